"""`sync --full`: streamed page by page, resumable after an interruption, summarised."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.errors import PermanentError, TransientError
from connector.sync.cursors import read_cursor, save_cursor
from connector.sync.full import CheckpointMismatch, FullSync, wait_for_outcomes
from connector.systems.bitrix24.batch import Command
from tests.sync.conftest import queued
from tests.sync.test_woocommerce_polling import create_orders, minutes_ago


@pytest.fixture
def shop(shop_services):
    """A shop with 2 customers and 230 orders (3 pages of 100)."""
    client = shop_services.woocommerce
    for email in ("ann@example.com", "bob@example.com"):
        client.request("POST", "/customers", json={"email": email})
    create_orders(client, 230, minutes_ago(30))
    return shop_services


def order_ids(services) -> list[int]:
    return [t["payload"]["id"] for t in queued(services, "woocommerce.order")]


def test_a_full_sync_enqueues_every_record_once_and_starts_polling(shop):
    [customers, products, orders] = FullSync(shop).run("woocommerce")
    assert (customers.outcome.enqueued, orders.outcome.enqueued) == (2, 230)
    assert products.outcome.enqueued == len(shop.woocommerce.request("GET", "/products"))
    assert len(set(order_ids(shop))) == 230
    assert read_cursor(shop.engine, "woocommerce", "full:orders")["done"] is True
    assert "modified" in read_cursor(shop.engine, "woocommerce", "orders")  # polling cursor


def test_an_interrupted_full_sync_continues_after_its_last_saved_page(shop, monkeypatch):
    client = shop.woocommerce
    real = client.request_full
    fetched: list[int] = []

    def fails_on_third_order_page(method, path, params=None, **kwargs):
        if path == "/orders":
            fetched.append(params["page"])
            if params["page"] == 3 and len(fetched) == 3:
                raise TransientError("shop went away")
        return real(method, path, params=params, **kwargs)

    monkeypatch.setattr(client, "request_full", fails_on_third_order_page)
    first = FullSync(shop).run("woocommerce")[-1]
    assert first.status == "failed" and first.outcome.failed_pages == 1
    assert first.outcome.enqueued == 200 and "shop went away" in first.outcome.error
    assert read_cursor(shop.engine, "woocommerce", "full:orders")["page"] == 2

    second = FullSync(shop).run("woocommerce")
    assert [r.status for r in second] == ["already complete", "already complete", "complete"]
    assert fetched[3:] == [2, 3]  # the last saved page again (for shifts), then on
    assert second[-1].outcome.enqueued == 30 and second[-1].outcome.deduplicated == 0
    assert sorted(order_ids(shop)) == sorted(set(order_ids(shop))) and len(order_ids(shop)) == 230


def test_restart_reads_everything_again_and_queues_nothing_twice(shop):
    FullSync(shop).run("woocommerce")
    again = FullSync(shop, restart=True).run("woocommerce")[-1]
    assert again.status == "complete" and again.outcome.read == 230
    assert again.outcome.enqueued == 0 and again.outcome.deduplicated == 230


def test_each_page_is_enqueued_before_the_next_is_fetched(shop, monkeypatch):
    client = shop.woocommerce
    real = client.request_full
    in_store_at_fetch: list[int] = []

    def watching(method, path, params=None, **kwargs):
        if path == "/orders":
            in_store_at_fetch.append(len(queued(shop, "woocommerce.order")))
        return real(method, path, params=params, **kwargs)

    monkeypatch.setattr(client, "request_full", watching)
    FullSync(shop).run_stream("woocommerce", "orders")
    assert in_store_at_fetch == [0, 100, 200]


def test_since_limits_the_read_and_a_resume_must_agree(shop):
    [order_id] = create_orders(shop.woocommerce, 1, minutes_ago(1))
    report = FullSync(shop, since=_utc(minutes_ago(5))).run_stream("woocommerce", "orders")
    assert report.outcome.enqueued == 1 and order_ids(shop) == [order_id]
    with shop.engine.begin() as connection:  # as if interrupted
        save_cursor(connection, "woocommerce", "full:orders", {"page": 1, "since": minutes_ago(5)})
    with pytest.raises(CheckpointMismatch, match="--restart"):
        FullSync(shop, since=_utc(minutes_ago(60))).run_stream("woocommerce", "orders")


def test_wait_reports_what_the_worker_made_of_the_tasks(shop):
    runner = FullSync(shop, keep_ids=True)
    report = runner.run_stream("woocommerce", "customers")
    queue = shop.queue
    first, second = queue.claim("worker", limit=2)
    queue.complete(first, "worker")
    queue.fail(second, "worker", PermanentError("no such customer"))
    wait_for_outcomes(shop, [report], timeout=0)
    assert (report.done, report.dead, report.unfinished) == (1, 1, 0)


def test_bitrix24_full_sync_reads_every_deal(shop_services):
    client = shop_services.bitrix24
    made = client.batch(Command("crm.deal.add", {"fields": {"TITLE": f"D{n}"}}) for n in range(60))
    deals = sorted(int(result.unwrap()) for result in made)
    contacts, deal_report = FullSync(shop_services).run("bitrix24")
    assert deal_report.outcome.enqueued == 60 and deal_report.outcome.pages == 2
    ids = [t["payload"]["id"] for t in queued(shop_services, "bitrix24.event")]
    assert ids == [str(d) for d in deals]
    assert read_cursor(shop_services.engine, "bitrix24", "full:deals")["done"] is True
    assert FullSync(shop_services).run("bitrix24")[1].status == "already complete"


def _utc(text):
    from connector.sync.times import utc

    return utc(text)


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(sandbox_env, tmp_path, monkeypatch, store_url):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return str(env_file)


def test_the_command_prints_a_summary(cli_env, fresh_sandbox):
    from connector_sandbox.runner import Sandbox  # noqa: F401 - the sandbox is running

    result = CliRunner().invoke(
        main, ["sync", "--full", "--system", "woocommerce", "--json", "--env-file", cli_env]
    )
    assert result.exit_code == 0, result.output
    rows = {r["stream"]: r for r in json.loads(result.stdout)}
    assert rows["orders"]["status"] == "complete" and rows["customers"]["failed_pages"] == 0
    table = CliRunner().invoke(
        main, ["sync", "--full", "--system", "woocommerce", "--env-file", cli_env]
    )
    assert "already complete" in table.output and "already queued" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--full", "--system", "shopify"], "--system: unknown system 'shopify'"),
        (["--full", "--since", "yesterday"], "--since: 'yesterday' is not a date"),
        (["--stream", "invoices"], "--system: nothing to poll for */invoices"),
        (["--restart"], "--restart: only with --full"),
        (["--full", "--system", "woocommerce", "--stream", "x"], "--stream: unknown stream 'x'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(cli_env, args, message):
    result = CliRunner().invoke(main, ["sync", *args, "--env-file", cli_env])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {result.output.split('error: ')[1].strip()}"
    ]
    assert message in result.output


def test_sync_without_full_polls_every_configured_stream_now(cli_env, fresh_sandbox):
    from connector.systems.woocommerce import WooCommerceClient

    env = fresh_sandbox.settings_env()
    shop = WooCommerceClient(
        env["CONNECTOR_WOOCOMMERCE_URL"],
        env["CONNECTOR_WOOCOMMERCE_KEY"],
        env["CONNECTOR_WOOCOMMERCE_SECRET"],
    )
    create_orders(shop, 2, minutes_ago(2))
    result = CliRunner().invoke(main, ["sync", "--json", "--env-file", cli_env])
    assert result.exit_code == 0, result.output
    polled = {(r["system"], r["stream"]): r for r in json.loads(result.stdout)}
    assert polled[("woocommerce", "orders")]["enqueued"] == 2
    assert ("bitrix24", "deals") in polled and ("bitrix24", "offline_events") not in polled


def test_ctrl_c_keeps_what_was_saved_and_says_how_to_continue(cli_env, fresh_sandbox, monkeypatch):
    from connector.systems.woocommerce import WooCommerceClient

    env = fresh_sandbox.settings_env()
    shop = WooCommerceClient(
        env["CONNECTOR_WOOCOMMERCE_URL"],
        env["CONNECTOR_WOOCOMMERCE_KEY"],
        env["CONNECTOR_WOOCOMMERCE_SECRET"],
    )
    create_orders(shop, 150, minutes_ago(2))
    real = WooCommerceClient.request_full

    def interrupted_on_page_2(self, method, path, params=None, **kwargs):
        if path == "/orders" and params and params.get("page") == 2:
            raise KeyboardInterrupt
        return real(self, method, path, params=params, **kwargs)

    monkeypatch.setattr(WooCommerceClient, "request_full", interrupted_on_page_2)
    args = ["sync", "--full", "--system", "woocommerce", "--stream", "orders"]
    first = CliRunner().invoke(main, [*args, "--env-file", cli_env])
    assert first.exit_code == 130 and "run the same command again" in first.stderr
    monkeypatch.setattr(WooCommerceClient, "request_full", real)
    second = CliRunner().invoke(main, [*args, "--json", "--env-file", cli_env])
    [orders] = json.loads(second.stdout)
    assert orders["status"] == "complete" and orders["enqueued"] == 50
