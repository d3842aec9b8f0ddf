"""Webhooks in: authentic, well-formed deliveries are stored with their task before the 2xx;
everything else gets a 4xx naming the problem and leaves nothing behind."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from connector.store.tables import inbound_events, tasks
from connector.systems import shop
from connector.systems.woocommerce.webhooks import signature
from tests.support import SPECS
from tests.webhooks.credentials import B24_TOKEN, CDEK_SECRET, MC_SECRET, SHOP_SECRET, WC_SECRET


def counts(services) -> tuple[int, int]:
    with services.engine.connect() as connection:
        return (
            connection.scalar(select(func.count()).select_from(inbound_events)),
            connection.scalar(select(func.count()).select_from(tasks)),
        )


def queued_tasks(services) -> list[dict]:
    with services.engine.connect() as connection:
        return [dict(r) for r in connection.execute(select(tasks)).mappings()]


def spec_json(name: str) -> dict:
    return json.loads((SPECS / name).read_text())


def woo_order_delivery(order: dict, secret: str = WC_SECRET) -> tuple[bytes, dict]:
    body = json.dumps(order).encode()
    headers = {
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-Signature": signature(body, secret),
        "X-WC-Webhook-Delivery-ID": "77",
        "Content-Type": "application/json",
    }
    return body, headers


def shop_delivery(event: dict, message_id: str = "msg_1", secret: str = SHOP_SECRET):
    body = json.dumps(event).encode()
    stamp = int(time.time())
    return body, {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": shop.sign(secret, message_id, stamp, body),
        "Content-Type": "application/json",
    }


def test_woocommerce_order_is_stored_enqueued_and_deduplicated(client, services):
    order = spec_json("woocommerce/webhook.order.updated.body.json")
    body, headers = woo_order_delivery(order)
    first = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["status"] == "accepted"
    headers["X-WC-Webhook-Delivery-ID"] = "78"  # WooCommerce: a new id on every attempt
    again = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert again.get_json()["status"] == "duplicate"
    [task] = queued_tasks(services)
    assert task["kind"] == "woocommerce.order" and task["payload"]["id"] == order["id"]
    assert task["ordering_key"] == f"order:woocommerce:{order['id']}"
    assert counts(services) == (1, 1)


def test_woocommerce_bad_signature_is_401_and_stores_nothing(client, services):
    body, headers = woo_order_delivery({"id": 5}, secret="wrong")
    response = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.status_code == 401 and counts(services) == (0, 0)


def test_woocommerce_ping_is_answered(client, services):
    ping = (SPECS / "woocommerce/webhook.ping.form.txt").read_text().strip()
    response = client.post(
        "/webhooks/woocommerce", data=ping, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and counts(services) == (0, 0)


def test_malformed_body_is_400_naming_the_field(client, services):
    body, headers = woo_order_delivery({"status": "processing"})
    response = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["message"].startswith("id:")
    body, headers = shop_delivery({"type": "order.created", "data": {"total": "5"}})
    response = client.post("/webhooks/shop", data=body, headers=headers)
    assert response.status_code == 400 and "data.id" in response.get_json()["message"]
    assert counts(services) == (0, 0)


def test_oversized_body_is_413(client, services):
    body, headers = woo_order_delivery({"id": 1, "note": "x" * 300_000})
    response = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.status_code == 413 and counts(services) == (0, 0)


def test_bitrix24_event_needs_our_application_token(client, services):
    form = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": "42",
        "ts": "1700000000",
        "auth[application_token]": B24_TOKEN,
        "auth[domain]": "portal.example",
    }
    response = client.post(
        "/webhooks/bitrix24", data=urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    [task] = queued_tasks(services)
    assert task["payload"]["id"] == "42" and task["ordering_key"] == "deal:bitrix24:42"
    form["auth[application_token]"] = "forged"
    form["data[FIELDS][ID]"] = "43"
    response = client.post(
        "/webhooks/bitrix24", data=urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 401 and counts(services) == (1, 1)


def test_bitrix24_official_example_is_accepted(client, services):
    text = (SPECS / "bitrix24/events/event_ONCRMDEALUPDATE.app.form.txt").read_text().strip()
    example_token = [
        p.split("=", 1)[1]
        for p in text.split("&")
        if p.startswith("auth%5Bapplication_token%5D=") or p.startswith("auth[application_token]=")
    ][0]
    services.settings = services.settings.replace(bitrix24_application_token=example_token)
    response = client.post(
        "/webhooks/bitrix24", data=text, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and queued_tasks(services)[0]["kind"] == "bitrix24.event"


def test_mailchimp_check_get_and_unsubscribe_event(client, services):
    assert client.get(f"/webhooks/mailchimp/{MC_SECRET}").status_code == 200
    assert client.get("/webhooks/mailchimp/guess").status_code == 401
    form = (SPECS / "mailchimp/webhooks/unsubscribe.form.txt").read_text().strip()
    response = client.post(
        f"/webhooks/mailchimp/{MC_SECRET}",
        data=form,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    [task] = queued_tasks(services)
    assert task["kind"] == "mailchimp.event" and task["payload"]["type"] == "unsubscribe"


def test_cdek_status_with_url_secret(client, services):
    body = (SPECS / "delivery/cdek/webhook.ORDER_STATUS.json").read_bytes()
    assert client.post("/webhooks/cdek/wrong", data=body).status_code == 401
    response = client.post(
        f"/webhooks/cdek/{CDEK_SECRET}", data=body, content_type="application/json"
    )
    assert response.status_code == 200 and queued_tasks(services)[0]["kind"] == "cdek.status"


def test_shop_contract_signed_as_standard_webhooks(client, services):
    event = {"type": "cart.updated", "data": {"id": "c-1", "email": "a@b.co", "lines": []}}
    body, headers = shop_delivery(event)
    assert client.post("/webhooks/shop", data=body, headers=headers).status_code == 200
    assert client.post("/webhooks/shop", data=body, headers=headers).get_json()["status"] == (
        "duplicate"
    )
    stale = dict(headers, **{"webhook-timestamp": str(int(time.time()) - 3600)})
    assert client.post("/webhooks/shop", data=body, headers=stale).status_code == 401
    [task] = queued_tasks(services)
    assert task["kind"] == "shop.cart" and task["ordering_key"] == "cart:shop:c-1"


def test_unknown_topic_is_recorded_and_acknowledged(client, services):
    body, headers = shop_delivery({"type": "product.updated", "data": {"id": 3}}, "msg_p")
    response = client.post("/webhooks/shop", data=body, headers=headers)
    assert response.status_code == 202 and counts(services) == (1, 0)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(
        [
            "/webhooks/woocommerce",
            "/webhooks/bitrix24",
            "/webhooks/shop",
            f"/webhooks/mailchimp/{MC_SECRET}",
            f"/webhooks/cdek/{CDEK_SECRET}",
        ]
    ),
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.dictionaries(st.text(max_size=10), st.text(max_size=10)).map(
            lambda d: json.dumps(d).encode()
        ),
    ),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "X-WC-Webhook-Topic",
                "X-WC-Webhook-Signature",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "Content-Type",
            ]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    ),
)
def test_random_bodies_and_headers_never_cause_a_500(client, route, body, headers):
    response = client.post(route, data=body, headers=headers)
    assert 200 <= response.status_code < 500, response.get_data(as_text=True)


def test_a_deal_moved_to_another_funnel_is_synced_like_an_update(client, services):
    form = {
        "event": "ONCRMDEALMOVETOCATEGORY",
        "data[FIELDS][ID]": "42",
        "ts": "1700000001",
        "auth[application_token]": B24_TOKEN,
    }
    response = client.post(
        "/webhooks/bitrix24", data=urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    [task] = queued_tasks(services)
    assert task["payload"]["entity"] == "deal" and task["ordering_key"] == "deal:bitrix24:42"
    form["event"] = "ONCRMLEADADD"  # leads are not synced: recorded, acknowledged
    response = client.post(
        "/webhooks/bitrix24", data=urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 202 and counts(services) == (2, 1)


def test_two_changes_within_one_second_are_two_events(client, services):
    order = spec_json("woocommerce/webhook.order.updated.body.json")
    first = client.post(
        "/webhooks/woocommerce",
        data=woo_order_delivery(order)[0],
        headers=woo_order_delivery(order)[1],
    )
    refunded = dict(order, status="refunded")  # same date_modified_gmt, another state
    body, headers = woo_order_delivery(refunded)
    second = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert first.get_json()["status"] == second.get_json()["status"] == "accepted"
    assert counts(services) == (2, 2)


def test_two_bitrix24_events_of_one_deal_within_a_second_are_both_kept(client, services):
    # Bitrix24 never re-sends; identical bodies in one second are two changes (our write and a
    # manager's move), and the flow reads the deal fresh for each.
    form = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": "7",
        "ts": "1700000000",
        "auth[application_token]": B24_TOKEN,
    }
    for _ in range(2):
        response = client.post(
            "/webhooks/bitrix24",
            data=urlencode(form),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.get_json()["status"] == "accepted"
    assert counts(services) == (2, 2)


def test_a_store_failure_is_a_503_to_retry_not_an_acknowledgement(client, services, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def failing(_inbound):
        raise OperationalError("INSERT", None, Exception("disk I/O error"))

    monkeypatch.setattr(services.inbound, "record", failing)
    body, headers = woo_order_delivery({"id": 41, "date_modified_gmt": "2026-11-25T10:00:00"})
    answer = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.get_json()["status"] == "unavailable"
