"""The system clients against the sandbox emulators, faults included: every call either succeeds
after retries or raises the right typed error, and nothing is written twice."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.config import load_settings
from connector.errors import ConnectorError, PermanentError, TransientError
from connector.http import RetryPolicy, Timeouts
from connector.systems.bitrix24 import (
    Bitrix24Client,
    MemoryTokenStore,
    OAuthConnection,
    Plan,
    UserField,
    WebhookConnection,
)
from connector.systems.bitrix24 import events as ev
from connector.systems.bitrix24.setup import setup_bitrix24
from connector.systems.cdek import CdekClient
from connector.systems.mailchimp import MailchimpClient, MailchimpError, MergeField, Operation
from connector.systems.mailchimp import subscriber_hash as mc_hash
from connector.systems.mailchimp.setup import setup_mailchimp
from connector.systems.novaposhta import NovaPoshtaClient
from connector.systems.woocommerce import WEBHOOK_TOPICS, WooCommerceClient
from connector.systems.woocommerce.setup import setup_woocommerce

runner = pytest.importorskip("connector_sandbox.runner")

RATE, BURST = 40.0, 20
FAST_RETRY = RetryPolicy(attempts=8, backoff=0.01, backoff_cap=0.05)


@pytest.fixture(scope="module")
def portal() -> Iterator[runner.Sandbox]:
    names = ("bitrix24", "mailchimp", "woocommerce", "cdek", "novaposhta")
    config = {
        "bitrix24": {"rate_limit_drain": RATE, "rate_limit_burst": BURST},
        "mailchimp": {"batch_delay": 0.05, "batch_operation_delay": 0.0},
    }
    with runner.Sandbox(names=names, config=config) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(portal) -> runner.Sandbox:
    portal.reset()
    return portal


@pytest.fixture(scope="module")
def responder() -> Iterator[str]:
    """A URL answering 200 to anything, like `connector serve` answers webhook validations."""

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def settings(sandbox, **extra):
    env = sandbox.settings_env() | {"CONNECTOR_DATABASE_URL": "sqlite://"}
    env |= {f"CONNECTOR_{key.upper()}": str(value) for key, value in extra.items()}
    return load_settings(env=env, env_file=None)


def bitrix(sandbox, **options) -> Bitrix24Client:
    options.setdefault("retry", FAST_RETRY)
    return Bitrix24Client(
        WebhookConnection(sandbox.bitrix24_webhook_url()),
        plan=Plan(rate=RATE, burst=BURST),
        **options,
    )


def statuses_seen(client) -> collections.Counter:
    seen: collections.Counter = collections.Counter()
    client.session.hooks["response"].append(lambda r, *a, **k: seen.update([r.status_code]))
    return seen


# --------------------------------------------------------------------------- Bitrix24


def test_contacts_deals_and_multifields_round_trip(sandbox):
    client = bitrix(sandbox)
    contact_id = client.add_contact({"NAME": "Ann"}, ["+79990000001"], ["ann@example.com"])
    assert client.find_contacts_by_comm(["+79990000001"], ["nobody@example.com"]) == [contact_id]
    existing = client.get_contact(contact_id)
    client.update_contact(
        contact_id,
        {"NAME": "Anna"},
        phones=["+7 999 000-00-01", "+79990000002"],
        emails=["ANN@example.com"],
        existing=existing,
    )
    after = client.get_contact(contact_id)
    assert sorted(p["VALUE"] for p in after["PHONE"]) == ["+79990000001", "+79990000002"]
    assert [e["VALUE"] for e in after["EMAIL"]] == ["ann@example.com"]
    deal_id = client.add_deal({"TITLE": "Order 7", "CONTACT_ID": contact_id})
    rows = [{"PRODUCT_NAME": "Tea", "PRICE": 5, "QUANTITY": 2}]
    assert client.set_product_rows(deal_id, rows)
    assert client.get_product_rows(deal_id)[0]["PRODUCT_NAME"] == "Tea"
    stages = client.stages()
    assert {stage.semantics for stage in stages} == {"process", "success", "failure"}
    assert client.update_deal(deal_id, {"STAGE_ID": stages[1].id})
    assert client.get_deal(deal_id)["STAGE_ID"] == stages[1].id
    assert client.add_timeline_comment("deal", deal_id, "Paid in the shop") > 0


def test_bulk_adds_keep_the_rate_and_list_back_by_id(sandbox):
    client = bitrix(sandbox, max_workers=4)
    seen = statuses_seen(client)
    items = [
        {"fields": {"NAME": f"c{i}"}, "phones": [f"+7999{i:07d}"], "emails": [f"c{i}@example.com"]}
        for i in range(1300)  # 26 batches: more than the burst
    ]
    results = client.add_contacts(items)
    assert all(result.ok for result in results)
    assert seen[503] == 0, "our bucket must never provoke QUERY_LIMIT_EXCEEDED"
    listed = list(client.list_all("crm.contact.list", select=["NAME", "PHONE"]))
    assert len(listed) == 1300
    assert len({row["ID"] for row in listed}) == 1300
    since = list(client.list_modified_since("crm.contact.list", "2000-01-01T00:00:00+00:00"))
    assert len(since) == 1300


def test_reads_survive_faults(sandbox):
    client = bitrix(sandbox)
    ids = [result.unwrap() for result in client.add_contacts([{"fields": {"NAME": "x"}}] * 60)]
    sandbox.faults("bitrix24", error_rate=0.3, drop_rate=0.1, statuses=[500, 502, 503], seed=3)
    assert len(list(client.list_all("crm.contact.list", select=["NAME"]))) == 60
    assert all(client.get_contact(contact_id)["ID"] == str(contact_id) for contact_id in ids[:10])
    assert client.update_contact(ids[0], {"NAME": "y"})


def test_writes_under_faults_are_typed_and_never_duplicated(sandbox):
    client = bitrix(sandbox, timeouts=Timeouts(connect=2, read=0.5))
    sandbox.faults(
        "bitrix24",
        error_rate=0.15,
        drop_rate=0.1,
        timeout_rate=0.1,
        timeout_seconds=0.8,
        statuses=[500, 502, 503],
        seed=11,
    )
    items = [{"fields": {"NAME": f"f{i}"}, "phones": [f"+7888{i:07d}"]} for i in range(400)]
    results = client.add_contacts(items)
    sandbox.control("bitrix24", "DELETE", "/faults")
    sandbox.faults("bitrix24", error_rate=0.0)
    ok = {items[i]["phones"][0] for i, r in enumerate(results) if r.ok}
    failed = [r.error for r in results if not r.ok]
    assert ok and failed, "the fault mix should give both outcomes"
    assert all(isinstance(error, TransientError) for error in failed)
    rows = list(client.list_all("crm.contact.list", select=["PHONE"]))
    phones = collections.Counter(p["VALUE"] for row in rows for p in row.get("PHONE") or [])
    assert max(phones.values()) == 1, "an add must never be sent twice"
    assert ok <= set(phones)
    assert len(phones) <= len(ok) + len(failed)


def test_oauth_app_refreshes_and_keeps_the_call(sandbox):
    installed = sandbox.control("bitrix24", "POST", "/oauth/install", json={}).json()
    store = MemoryTokenStore(
        {key: installed[key] for key in ("access_token", "refresh_token", "client_endpoint")}
    )
    connection = OAuthConnection(
        "local.sandbox0000000000.00000000",
        "sandboxclientsecret",
        store,
        oauth_url=sandbox.urls["bitrix24"],
    )
    client = Bitrix24Client(connection, plan=Plan(RATE, BURST), retry=FAST_RETRY)
    deal_id = client.add_deal({"TITLE": "Before"})
    sandbox.control("bitrix24", "POST", "/oauth/expire", json={})
    assert client.update_deal(deal_id, {"TITLE": "After"})
    assert client.get_deal(deal_id)["TITLE"] == "After"
    assert store.saves == 1 and store.tokens["access_token"] != installed["access_token"]


def test_app_setup_binds_events_and_our_writes_stay_out_of_the_offline_queue(sandbox):
    installed = sandbox.control("bitrix24", "POST", "/oauth/install", json={}).json()
    store = MemoryTokenStore(dict(installed))
    connection = OAuthConnection(
        "local.sandbox0000000000.00000000",
        "sandboxclientsecret",
        store,
        oauth_url=sandbox.urls["bitrix24"],
    )
    client = Bitrix24Client(connection, plan=Plan(RATE, BURST), retry=FAST_RETRY)
    fields = {"contact": [UserField("UF_CRM_BONUS", "double")]}
    first = setup_bitrix24(client, public_url="http://127.0.0.1:9", user_fields=fields)
    second = setup_bitrix24(client, public_url="http://127.0.0.1:9", user_fields=fields)
    assert "1 created" in first.lines[1] and "0 created" in second.lines[1]
    assert "6 bound" in first.lines[2] and "0 bound" in second.lines[2]
    ours = client.add_contact({"NAME": "written by the connector"})
    sandbox.control(
        "bitrix24", "POST", "/act/contact", json={"action": "add", "fields": {"NAME": "m"}}
    )
    batch = ev.read_offline(client)
    ids = {event["EVENT_DATA"]["FIELDS"]["ID"] for event in batch.events}
    assert str(ours) not in ids and len(ids) == 1
    ev.confirm_offline(client, batch)
    assert ev.read_offline(client).events == []


def test_webhook_setup_registers_the_outgoing_webhook_once(sandbox):
    client = bitrix(sandbox)
    store = MemoryTokenStore()
    for _ in range(2):
        report = setup_bitrix24(
            client, public_url="http://127.0.0.1:9", user_fields={}, token_store=store
        )
    hooks = sandbox.control("bitrix24", "GET", "/outgoing-webhooks").json()
    assert len(hooks) == 1 and hooks[0]["handler"] == "http://127.0.0.1:9/webhooks/bitrix24"
    assert store.tokens["application_token"] == hooks[0]["application_token"]
    assert "already registered" in report.lines[-1]


# --------------------------------------------------------------------------- Mailchimp


def mailchimp(sandbox) -> tuple[MailchimpClient, str, str]:
    config = settings(sandbox)
    client = MailchimpClient.from_settings(config, retry=FAST_RETRY, busy_wait=0.01)
    return client, config.mailchimp_list_id, config.mailchimp_store_id


def test_mailchimp_setup_is_safe_twice(sandbox, responder):
    client, list_id, store_id = mailchimp(sandbox)
    arguments = dict(
        list_id=list_id,
        store_id=store_id,
        public_url=responder,
        webhook_secret="s3cret",
        merge_fields=[MergeField("BIRTHDAY", type="birthday"), MergeField("PHONE", type="phone")],
    )
    first = setup_mailchimp(client, **arguments)
    second = setup_mailchimp(client, **arguments)
    assert "registered" in first[-1] and "exists" in second[-1]
    assert "0 created" in second[2]
    hooks = client.request("GET", f"/lists/{list_id}/webhooks")["webhooks"]
    assert len(hooks) == 1 and hooks[0]["sources"]["api"] is False


def test_mailchimp_members_store_and_commerce(sandbox):
    client, list_id, store_id = mailchimp(sandbox)
    client.ensure_store(store_id, list_id, "Shop", "USD")
    member = client.upsert_member(list_id, "Ann@Example.com", {"FNAME": "Ann"}, "subscribed")
    assert member["id"] == mc_hash("ann@example.com")
    assert (
        client.add_member(list_id, "ann@example.com", {"FNAME": "Anna"})["merge_fields"]["FNAME"]
        == "Anna"
    )
    client.update_member_tags(list_id, "ann@example.com", ["VIP"])
    client.add_member_event(list_id, "ann@example.com", "order_paid", {"order": 7})
    client.upsert_member(list_id, "ann@example.com", status="unsubscribed")
    with pytest.raises(MailchimpError) as raised:
        client.upsert_member(list_id, "ann@example.com", status="subscribed")
    assert raised.value.code == "Member In Compliance State"
    customer = {"id": "c1", "email_address": "bob@example.com", "opt_in_status": False}
    client.upsert_customer(store_id, customer)
    variants = [{"id": "p1", "title": "Tea", "price": 5, "inventory_quantity": 3}]
    client.upsert_product(store_id, {"id": "p1", "title": "Tea", "variants": variants})
    client.upsert_product(store_id, {"id": "p1", "title": "Green tea", "variants": variants})
    line = {"id": "l1", "product_id": "p1", "product_variant_id": "p1", "quantity": 1, "price": 5}
    cart = {
        "id": "k1",
        "customer": {"id": "c1"},
        "currency_code": "USD",
        "order_total": 5,
        "checkout_url": "https://shop.example/cart",
        "lines": [line],
    }
    client.upsert_cart(store_id, cart)
    client.upsert_cart(store_id, {**cart, "order_total": 10, "lines": [{**line, "quantity": 2}]})
    client.delete_cart(store_id, "k1")
    client.delete_cart(store_id, "k1")
    order = {**cart, "id": "o1", "financial_status": "paid"}
    order.pop("checkout_url")
    client.upsert_order(store_id, order)
    assert (
        client.upsert_order(store_id, {"id": "o1", "fulfillment_status": "shipped"})[
            "fulfillment_status"
        ]
        == "shipped"
    )


def test_mailchimp_batch_results_come_back_per_operation(sandbox):
    client, list_id, _ = mailchimp(sandbox)
    operations = [
        Operation(
            "PUT",
            f"/lists/{list_id}/members/{mc_hash(f'b{i}@example.com')}",
            {"email_address": f"b{i}@example.com", "status_if_new": "subscribed"},
            operation_id=f"m{i}",
        )
        for i in range(5)
    ]
    operations.append(
        Operation(
            "POST",
            f"/lists/{list_id}/members",
            {"email_address": "bad", "status": "x"},
            operation_id="bad",
        )
    )
    results = {r.operation_id: r for r in client.run_batch(operations, poll_every=0.05)}
    assert all(results[f"m{i}"].ok for i in range(5))
    assert isinstance(results["bad"].error, PermanentError)


def test_mailchimp_upserts_survive_faults(sandbox):
    client, list_id, _ = mailchimp(sandbox)
    sandbox.faults("mailchimp", error_rate=0.3, statuses=[429, 500, 503], drop_rate=0.1, seed=5)
    for i in range(15):
        assert client.upsert_member(list_id, f"f{i}@example.com", {"FNAME": "F"})["status"]


# --------------------------------------------------------------------------- shop and carriers


def test_woocommerce_setup_twice_and_reads(sandbox):
    config = settings(sandbox, public_url="http://127.0.0.1:9")
    client = WooCommerceClient.from_settings(config, retry=FAST_RETRY)
    arguments = dict(public_url=config.public_url, webhook_secret=config.woocommerce_webhook_secret)
    assert f"{len(WEBHOOK_TOPICS)} created" in setup_woocommerce(client, **arguments)[-1]
    assert f"{len(WEBHOOK_TOPICS)} kept" in setup_woocommerce(client, **arguments)[-1]
    sandbox.faults("woocommerce", error_rate=0.3, statuses=[500, 503], seed=2)
    assert isinstance(list(client.list_products("2000-01-01T00:00:00")), list)
    assert len(client.list_webhooks()) == len(WEBHOOK_TOPICS)


def test_cdek_and_nova_poshta(sandbox, spec):
    config = settings(sandbox)
    cdek = CdekClient.from_settings(config, retry=FAST_RETRY)
    url = "http://127.0.0.1:9/webhooks/cdek/secret"
    assert cdek.subscribe_webhook(url)[1] is True
    assert cdek.subscribe_webhook(url)[1] is False
    created = cdek.create_order(spec("delivery/cdek/order.create.request.json"))
    assert cdek.get_order(created["entity"]["uuid"])["entity"]["uuid"] == created["entity"]["uuid"]
    nova = NovaPoshtaClient.from_settings(config, retry=FAST_RETRY)
    statuses = nova.track([("20400048799000", "380600000000")])
    assert statuses and "StatusCode" in statuses[0]


def test_wrong_credentials_are_auth_errors(sandbox):
    from connector.errors import AuthError

    config = settings(sandbox)
    bad = Bitrix24Client(
        WebhookConnection(sandbox.bitrix24_webhook_url().replace("sandboxtoken", "wrong")),
        retry=FAST_RETRY,
    )
    with pytest.raises(AuthError):
        bad.get_deal(1)
    with pytest.raises(AuthError):
        MailchimpClient("0" * 32 + "-us1", base_url=config.mailchimp_base_url).ping()
    with pytest.raises(ConnectorError):
        WooCommerceClient(config.woocommerce_url, "ck_bad", "cs_bad").get_order(1)


def test_bulk_export_reads_2500_rows_per_request(sandbox):
    client = bitrix(sandbox)
    client.add_contacts([{"fields": {"NAME": f"e{i}"}} for i in range(260)])
    seen = statuses_seen(client)
    exported = list(client.list_all("crm.contact.list", select=["NAME"], pages_per_call=50))
    assert [int(row["ID"]) for row in exported] == sorted(int(row["ID"]) for row in exported)
    assert len({row["ID"] for row in exported}) == 260
    assert sum(seen.values()) == 1


def test_shop_and_carrier_calls_survive_faults(sandbox, spec):
    config = settings(sandbox)
    cdek = CdekClient.from_settings(config, retry=FAST_RETRY)
    created = cdek.create_order(spec("delivery/cdek/order.create.request.json"))
    nova = NovaPoshtaClient.from_settings(config, retry=FAST_RETRY)
    shop = WooCommerceClient.from_settings(config, retry=FAST_RETRY)
    for name in ("cdek", "novaposhta", "woocommerce"):
        sandbox.faults(name, error_rate=0.3, drop_rate=0.1, statuses=[500, 502, 503], seed=9)
    for _ in range(5):
        assert cdek.get_order(created["entity"]["uuid"])["entity"]["uuid"]
        assert nova.track(["20400048799000"])
        assert isinstance(shop.list_webhooks(), list)
