"""Bad input is a 400 naming the field at the door, never a 500 and never a task that dies
later in the queue; a stranger is refused before the body is read; a 5xx shows in /metrics."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from connector import metrics as metrics_module
from connector.services import Services
from connector.store.tables import inbound_events, tasks
from connector.systems import shop
from connector.systems.bitrix24 import events as bitrix24_events
from connector.systems.woocommerce.webhooks import signature
from tests.webhooks.credentials import B24_TOKEN, CDEK_SECRET, MC_SECRET, SHOP_SECRET, WC_SECRET

FORM = "application/x-www-form-urlencoded"
DEEP_JSON = b'{"a":' * 1000 + b"1" + b"}" * 1000


def stored(services: Services) -> tuple[int, int]:
    """(inbound events, tasks) in the store."""
    with services.engine.connect() as connection:
        return (
            connection.scalar(select(func.count()).select_from(inbound_events)),
            connection.scalar(select(func.count()).select_from(tasks)),
        )


def woo_headers(body: bytes) -> dict[str, str]:
    return {
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Signature": signature(body, WC_SECRET),
        "Content-Type": "application/json",
    }


def shop_headers(body: bytes) -> dict[str, str]:
    stamp = int(time.time())
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": shop.sign(SHOP_SECRET, "msg_1", stamp, body),
        "Content-Type": "application/json",
    }


def bitrix24_form(**fields: str) -> str:
    form = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": "42",
        "ts": "1700000000",
        "auth[application_token]": B24_TOKEN,
    }
    return urlencode({**form, **fields})


# --------------------------------------------------------------------------- nesting


def test_a_json_body_nested_a_thousand_levels_deep_is_a_400_on_every_json_route(
    client, services
) -> None:
    answers = [
        client.post("/webhooks/woocommerce", data=DEEP_JSON, headers=woo_headers(DEEP_JSON)),
        client.post("/webhooks/shop", data=DEEP_JSON, headers=shop_headers(DEEP_JSON)),
        client.post(
            f"/webhooks/cdek/{CDEK_SECRET}", data=DEEP_JSON, content_type="application/json"
        ),
        client.post("/webhooks/bitrix24", data=DEEP_JSON, content_type="application/json"),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.get_json()
        assert answer.get_json()["message"] == "body: nested deeper than 64 levels"
    assert stored(services) == (0, 0)


def test_a_form_nested_deeper_than_php_allows_is_a_400_even_with_our_token(
    client, services
) -> None:
    deep_key = "data[FIELDS]" + "[a]" * 100
    answer = client.post(
        "/webhooks/bitrix24", data=bitrix24_form(**{deep_key: "1"}), content_type=FORM
    )
    assert answer.status_code == 400
    assert answer.get_json()["message"] == "data: nested deeper than 64 levels"
    mailchimp = urlencode({"type": "subscribe", "data[email]": "a@b.co", deep_key: "1"})
    answer = client.post(f"/webhooks/mailchimp/{MC_SECRET}", data=mailchimp, content_type=FORM)
    assert answer.status_code == 400 and "nested deeper than 64" in answer.get_json()["message"]
    assert stored(services) == (0, 0)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"data" + b"[a]" * 1000 + b"=1", FORM),
        (DEEP_JSON, FORM),  # a form that starts with `{` is read as a form, not as JSON
        (b'{"event": "ONCRMDEALUPDATE", "auth": {"application_token": "forged"}}', FORM),
        (b"", FORM),
    ],
    ids=["a form 1,000 levels deep", "a form starting with {", "a forged token", "empty"],
)
def test_a_bitrix24_delivery_without_our_token_is_refused_before_its_body_is_parsed(
    client, services, monkeypatch, body, content_type
) -> None:
    def must_not_parse(*_args, **_kwargs):
        raise AssertionError("the body was parsed before the token was checked")

    monkeypatch.setattr(bitrix24_events, "parse_event", must_not_parse)
    monkeypatch.setattr(bitrix24_events, "parse_php_form", must_not_parse)
    answer = client.post("/webhooks/bitrix24", data=body, content_type=content_type)
    assert answer.status_code == 401
    assert answer.get_json()["message"] == "auth[application_token] does not match"
    assert stored(services) == (0, 0)


# --------------------------------------------------------------------------- Bitrix24 ids


@pytest.mark.parametrize(
    "fields",
    [
        {"data[FIELDS][ID][]": "1"},  # [1]
        {"data[FIELDS][ID][a]": "1"},  # an object
        {"data[FIELDS][ID]": "\U0001f600"},
        {"data[FIELDS][ID]": "²"},
        {"data[FIELDS][ID]": "0"},
        {"data[FIELDS][ID]": "-1"},
        {"data[FIELDS][ID]": "1.5"},
        {"data[FIELDS][ID]": "9" * 20},
    ],
    ids=["list", "object", "emoji", "superscript", "zero", "negative", "fraction", "20 digits"],
)
def test_a_bitrix24_id_that_is_not_a_positive_integer_is_refused_at_the_door(
    client, services, fields
) -> None:
    form = bitrix24_form(**fields)
    if "data[FIELDS][ID]" not in fields:
        form = form.replace("data%5BFIELDS%5D%5BID%5D=42&", "")
    answer = client.post("/webhooks/bitrix24", data=form, content_type=FORM)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["message"] == "data[FIELDS][ID]: not a positive integer"
    assert stored(services) == (0, 0)


def test_a_bitrix24_json_event_with_a_list_for_its_id_is_refused_too(client, services) -> None:
    event = {
        "event": "ONCRMDEALUPDATE",
        "data": {"FIELDS": {"ID": [1]}},
        "auth": {"application_token": B24_TOKEN},
    }
    answer = client.post("/webhooks/bitrix24", json=event)
    assert answer.status_code == 400
    assert answer.get_json()["message"] == "data[FIELDS][ID]: not a positive integer"
    assert stored(services) == (0, 0)


def test_a_bitrix24_time_that_is_not_unix_seconds_is_refused(client, services) -> None:
    for ts in ("99999999999999999999", "yesterday", "²"):
        answer = client.post("/webhooks/bitrix24", data=bitrix24_form(ts=ts), content_type=FORM)
        assert answer.status_code == 400
        assert answer.get_json()["message"] == "ts: not a unix time in seconds"
    assert (
        client.post("/webhooks/bitrix24", data=bitrix24_form(), content_type=FORM).status_code
        == 200
    )


# --------------------------------------------------------------------------- other sources


def test_a_woocommerce_id_that_only_looks_like_digits_is_a_400(client, services) -> None:
    for raw_id in ("²", "9" * 30, [5]):
        body = json.dumps({"id": raw_id, "status": "processing"}).encode()
        answer = client.post("/webhooks/woocommerce", data=body, headers=woo_headers(body))
        assert answer.status_code == 400
        assert answer.get_json()["message"] == "id: missing or not a number"
    assert stored(services) == (0, 0)


def test_a_shop_record_id_must_be_a_text_or_an_integer(client, services) -> None:
    for bad_id in ([1], {"a": 1}, True, "x" * 201):
        body = json.dumps({"type": "order.created", "data": {"id": bad_id}}).encode()
        answer = client.post("/webhooks/shop", data=body, headers=shop_headers(body))
        assert answer.status_code == 400
        assert answer.get_json()["message"].startswith("data.id: ")
    assert stored(services) == (0, 0)


def test_a_mailchimp_email_that_is_not_a_text_is_a_400(client, services) -> None:
    form = urlencode(
        {"type": "subscribe", "fired_at": "2026-01-01 00:00:00", "data[email][a]": "1"}
    )
    answer = client.post(f"/webhooks/mailchimp/{MC_SECRET}", data=form, content_type=FORM)
    assert answer.status_code == 400
    assert answer.get_json()["message"].startswith("data[email]: not a text")
    assert stored(services) == (0, 0)


def test_cdek_attributes_of_the_wrong_type_are_a_400(client, services) -> None:
    url = f"/webhooks/cdek/{CDEK_SECRET}"
    status = {"type": "ORDER_STATUS", "uuid": "u-1", "attributes": {"code": "DELIVERED"}}
    for bad in ({"attributes": [1]}, {"attributes": {"code": {"a": 1}}}, {"uuid": ["u-1"]}):
        answer = client.post(url, json={**status, **bad})
        assert answer.status_code == 400, answer.get_json()
    assert stored(services) == (0, 0)
    assert client.post(url, json=status).status_code == 200


def test_a_lone_surrogate_escape_is_a_400_not_a_store_failure(client, services) -> None:
    body = b'{"type": "order.created", "data": {"id": "\\ud800"}}'
    answer = client.post("/webhooks/shop", data=body, headers=shop_headers(body))
    assert answer.status_code == 400
    assert "lone surrogate" in answer.get_json()["message"]
    assert stored(services) == (0, 0)


# --------------------------------------------------------------------------- metrics


def test_a_500_is_counted_in_metrics_by_route_and_as_a_webhook_error(
    client, services, monkeypatch
) -> None:
    def broken(_inbound):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services.inbound, "record", broken)
    body = json.dumps({"id": 5, "date_modified_gmt": "2026-11-25T10:00:00"}).encode()
    answer = client.post("/webhooks/woocommerce", data=body, headers=woo_headers(body))
    assert answer.status_code == 500
    client.get("/healthz")
    registry = services.metrics.registry
    assert (
        registry.get_sample_value(
            "connector_http_responses_total", {"route": "/webhooks/woocommerce", "status": "5xx"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "connector_webhooks_received_total", {"source": "woocommerce", "outcome": "error"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "connector_http_responses_total", {"route": "/healthz", "status": "2xx"}
        )
        == 1
    )
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'connector_http_responses_total{route="/webhooks/woocommerce",status="5xx"} 1.0' in (
        scraped
    )


def test_a_url_secret_never_reaches_the_metrics(client, services) -> None:
    client.post(f"/webhooks/cdek/{CDEK_SECRET}", data=b"{}", content_type="application/json")
    client.get("/no/such/page")
    scraped = client.get("/metrics").get_data(as_text=True)
    assert CDEK_SECRET not in scraped
    assert 'route="/webhooks/cdek/<secret>",status="4xx"' in scraped
    assert 'route="unmatched",status="4xx"' in scraped


def test_counts_stay_exact_for_label_values_past_those_kept_at_hand(monkeypatch) -> None:
    monkeypatch.setattr(metrics_module, "MAX_CHILDREN", 2)
    metrics = metrics_module.Metrics()
    for source in ("woocommerce", "bitrix24", "stranger-1", "woocommerce", "stranger-1"):
        metrics.count(metrics.webhooks, source, "accepted")

    def counted(source: str) -> float | None:
        labels = {"source": source, "outcome": "accepted"}
        return metrics.registry.get_sample_value("connector_webhooks_received_total", labels)

    assert [counted(s) for s in ("woocommerce", "bitrix24", "stranger-1")] == [2.0, 1.0, 2.0]
