"""Reconciliation against the emulators: a settled world has no differences; each kind of drift
(a deal deleted or edited, a stage move whose event was lost, a duplicate deal, a Mailchimp order
dropped, a lost ledger record, a shop change the hub missed, a deleted contact) is listed with
exit code 1, and `--fix` then a settle makes the check pass again; a duplicate is left to a
person."""

# ruff: noqa: F811 - `world` is the e2e fixture, imported, and the parameter of every story

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import delete

pytest.importorskip("connector.flows")
pytest.importorskip("tests.e2e.conftest")

from connector.cli import main  # noqa: E402
from connector.store.tables import loyalty_entries, loyalty_orders  # noqa: E402
from connector.sync.reconcile import Period, reconcile  # noqa: E402
from connector.sync.times import now  # noqa: E402
from tests.e2e.conftest import World, world  # noqa: E402, F401 - the e2e stories' fixture


@pytest.fixture
def cli_env(sandbox_env, tmp_path, monkeypatch, store_url) -> str:
    """The command line sees the world's sandbox and store."""
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return str(env_file)


def command(env_file: str, *args: str) -> tuple[int, dict]:
    """Runs `connector reconcile ... --json`: (exit code, report)."""
    result = CliRunner().invoke(main, ["reconcile", *args, "--json", "--env-file", env_file])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def a_settled_order(world: World, email: str = "olena@example.com") -> tuple[dict, dict]:
    """A guest pays for an order and every system has it: (shop order, deal)."""
    order = world.guest_order(email, "(555) 555-0100", pay=True)
    world.settle()
    [deal] = [d for d in world.deals() if d["ORIGIN_ID"] == f"woocommerce-{order['id']}"]
    return order, deal


def lose_webhooks(world: World, change: Callable[[], object]) -> None:
    """Makes a change whose webhooks never reach the connector."""
    world.hold_webhooks()
    change()
    world.wait_deliveries()
    world.tap.held.clear()
    world.tap.holding = False


# -- a settled world ----------------------------------------------------------------------------


def test_a_settled_world_has_no_differences_and_the_check_exits_0(world, cli_env):
    a_settled_order(world)
    # not paid: a deal and a Mailchimp order, no bonuses; the same phone makes Petro and Olena
    # one customer in the hub (and one contact): that is no customer missing
    world.guest_order("petro@example.com", "(555) 555-0100")
    world.settle()

    code, report = command(cli_env, "--check")

    assert code == 0, report["differences"]
    assert report["differences"] == []
    assert report["read"]["woocommerce orders"] == 2
    assert report["read"]["bitrix24 deals"] == 2 and report["read"]["mailchimp orders"] == 2
    assert report["systems"] == ["hub", "bitrix24", "mailchimp", "loyalty"]


def test_a_stage_the_shop_can_only_call_completed_is_no_difference(world):
    order, deal = a_settled_order(world)
    world.next_second()
    world.crm("/act/deal", id=deal["ID"], stage_id="FINAL_INVOICE")  # shipped: the shop says
    world.settle()  # completed, Mailchimp says paid: the maps are lossy, not different
    shop = next(o for o in world.state("woocommerce")["orders"] if o["id"] == order["id"])
    assert shop["status"] == "completed"

    assert reconcile(world.services).differences == []


# -- each kind of drift is listed, and repaired -------------------------------------------------


def delete_the_deal(world: World, order: dict, deal: dict) -> None:
    world.crm("/act/deal", id=deal["ID"], action="delete")


def edit_the_amount(world: World, order: dict, deal: dict) -> None:
    world.crm("/act/deal", id=deal["ID"], fields={"OPPORTUNITY": "999.00"})


def move_the_stage_and_lose_the_event(world: World, order: dict, deal: dict) -> None:
    world.next_second()
    lose_webhooks(world, lambda: world.crm("/act/deal", id=deal["ID"], stage_id="WON"))


def drop_the_mailchimp_order(world: World, order: dict, deal: dict) -> None:
    store = world.services.settings.mailchimp_store_id
    path = f"/ecommerce/stores/{store}/orders/woocommerce-{order['id']}"
    world.services.mailchimp.request("DELETE", path)


def lose_the_ledger_record(world: World, order: dict, deal: dict) -> None:
    key = f"woocommerce-{order['id']}"
    with world.services.engine.begin() as connection:
        connection.execute(delete(loyalty_entries).where(loyalty_entries.c.order_id == key))
        connection.execute(delete(loyalty_orders).where(loyalty_orders.c.order_id == key))


def change_the_shop_while_its_webhooks_are_lost(world: World, order: dict, deal: dict) -> None:
    world.next_second()
    lose_webhooks(
        world, lambda: world.shop(f"/admin/orders/{order['id']}/status", status="on-hold")
    )


def delete_the_contact(world: World, order: dict, deal: dict) -> None:
    world.crm("/act/contact", id=deal["CONTACT_ID"], action="delete")


DRIFTS = {
    "a deal deleted in the CRM": (delete_the_deal, {("bitrix24", "missing")}),
    "a deal's amount edited": (edit_the_amount, {("bitrix24", "amount differs")}),
    "a stage moved whose event was lost": (
        move_the_stage_and_lose_the_event,
        {("bitrix24", "status differs")},
    ),
    "a Mailchimp order dropped": (drop_the_mailchimp_order, {("mailchimp", "missing")}),
    "a ledger record lost": (lose_the_ledger_record, {("loyalty", "missing")}),
    "a shop change the hub missed": (
        change_the_shop_while_its_webhooks_are_lost,
        {("hub", "status differs"), ("bitrix24", "status differs")},
    ),
    "a contact deleted in the CRM": (delete_the_contact, {("bitrix24", "customer missing")}),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_is_listed_and_fix_then_a_settle_repairs_it(world, cli_env, drift):
    damage, expected = DRIFTS[drift]
    a_settled_order(world, "anna@example.com")  # an order nothing happens to
    order, deal = a_settled_order(world)
    damage(world, order, deal)
    world.settle()

    code, report = command(cli_env, "--check")
    assert code == 1
    assert {(d["system"], d["kind"]) for d in report["differences"]} >= expected
    key = f"woocommerce-{order['id']}"
    assert all(key in d["key"] or d["entity"] == "customer" for d in report["differences"])

    code, fixed = command(cli_env, "--fix")
    assert code == 0 and fixed["enqueued"] >= 1
    world.settle()
    assert world.dead_letters() == []

    code, after = command(cli_env, "--check")
    assert (code, after["differences"]) == (0, []), after["differences"]


def test_a_lost_stage_move_is_repaired_the_crm_way(world):
    """The CRM owns the stage: the repair takes the manager's move to the shop, not back."""
    order, deal = a_settled_order(world)
    move_the_stage_and_lose_the_event(world, order, deal)

    reconcile(world.services, fix=True)
    world.settle()

    shop = next(o for o in world.state("woocommerce")["orders"] if o["id"] == order["id"])
    assert shop["status"] == "completed"
    assert next(d for d in world.deals() if d["ID"] == deal["ID"])["STAGE_ID"] == "WON"


def test_a_duplicate_deal_is_listed_for_a_person_and_never_deleted(world, cli_env):
    order, deal = a_settled_order(world)
    copy = world.crm(
        "/act/deal",
        action="add",
        fields={"TITLE": "Order copy", "ORIGIN_ID": deal["ORIGIN_ID"], "OPPORTUNITY": "16.00"},
    )
    world.settle()

    code, report = command(cli_env, "--check")
    assert code == 1
    [duplicate] = report["differences"]
    assert (duplicate["kind"], duplicate["ref"]) == ("duplicated", f"deal {copy['id']}")
    assert duplicate["found"] == f"deal {deal['ID']} is the order's"

    code, fixed = command(cli_env, "--fix")
    assert code == 1 and fixed.get("repairs") == []  # nothing a task could do
    world.settle()
    assert len(world.deals()) == 2

    world.crm("/act/deal", id=copy["id"], action="delete")  # the manager decides
    assert command(cli_env, "--check")[0] == 0


def test_when_the_linked_deal_is_gone_a_copy_becomes_the_orders_deal_and_no_third_is_made(
    world,
):
    order, deal = a_settled_order(world)
    copy = world.crm(
        "/act/deal",
        action="add",
        fields={"TITLE": "Copy", "ORIGIN_ID": deal["ORIGIN_ID"], "OPPORTUNITY": "16.00"},
    )
    delete_the_deal(world, order, deal)
    world.settle()

    gone, stage = reconcile(world.services, fix=True).differences
    assert (gone.kind, gone.ref) == ("missing", f"deal {deal['ID']}")
    assert gone.found == f"deal {copy['id']} names the order instead"
    assert (stage.kind, stage.ref, stage.found) == ("status differs", f"deal {copy['id']}", "NEW")
    world.settle()

    assert [d["ID"] for d in world.deals()] == [copy["id"]]
    assert next(iter(world.deals()))["STAGE_ID"] == "EXECUTING"
    assert reconcile(world.services).differences == []


def test_a_deal_typed_by_hand_with_the_order_number_is_a_duplicate(world):
    order, deal = a_settled_order(world)
    world.crm(
        "/act/deal",
        action="add",
        fields={"TITLE": "By hand", "UF_CRM_ORDER_NUMBER": order["number"]},
    )
    world.settle()

    [duplicate] = reconcile(world.services).differences
    assert duplicate.kind == "duplicated" and duplicate.key == f"woocommerce-{order['id']}"


def test_an_order_never_imported_is_missing_everywhere_and_fix_reads_it(world):
    lose_webhooks(world, lambda: world.guest_order("olena@example.com", pay=True))

    report = reconcile(world.services, fix=True)

    kinds = {(d.system, d.kind) for d in report.differences}
    assert {("hub", "missing"), ("bitrix24", "missing"), ("mailchimp", "missing")} <= kinds
    assert {t.kind for t in report.repairs.tasks} == {"woocommerce.order"}
    world.settle()
    assert reconcile(world.services).differences == []


# -- the period, the systems, bad input ---------------------------------------------------------


def test_only_the_period_and_the_system_asked_for_are_compared(world):
    order, deal = a_settled_order(world)
    delete_the_deal(world, order, deal)
    drop_the_mailchimp_order(world, order, deal)
    world.settle()

    tomorrow = now() + timedelta(days=1)
    assert reconcile(world.services, Period(since=tomorrow)).differences == []
    assert reconcile(world.services, Period(until=now() - timedelta(days=1))).differences == []
    only = reconcile(world.services, only="mailchimp")
    assert [(d.system, d.kind) for d in only.differences] == [("mailchimp", "missing")]


def test_the_text_report_names_each_difference_and_what_fix_enqueued(world, cli_env):
    order, deal = a_settled_order(world)
    edit_the_amount(world, order, deal)
    world.settle()

    check = CliRunner().invoke(main, ["reconcile", "--env-file", cli_env])
    assert check.exit_code == 1
    line = f"bitrix24  order  woocommerce-{order['id']}  deal {deal['ID']}  amount differs"
    assert f"{line}: shop 16.00, bitrix24 999.00" in check.output
    assert "1 difference (bitrix24 1)" in check.output

    fix = CliRunner().invoke(main, ["reconcile", "--fix", "--env-file", cli_env])
    assert fix.exit_code == 0
    assert f'enqueued push.bitrix24.deal {{"id": "woocommerce-{order["id"]}"}}' in fix.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--system", "shopify"], "--system: unknown system 'shopify'"),
        (["--check", "--fix"], "--check and --fix: give one of them"),
        (["--since", "yesterday"], "--since: 'yesterday' is not a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--until: must be later"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(cli_env, args, message):
    result = CliRunner().invoke(main, ["reconcile", *args, "--env-file", cli_env])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert message in result.output


def test_the_mailchimp_client_lists_members_page_by_page(shop_services):
    client, audience = shop_services.mailchimp, shop_services.settings.mailchimp_list_id
    emails = [f"reader{n}@example.com" for n in range(5)]
    for email in emails:
        client.upsert_member(audience, email, {}, "transactional")

    listed = list(client.list_members(audience, ["email_address"], count=2))

    assert sorted(m["email_address"] for m in listed) == emails
    assert all(set(m) == {"email_address"} for m in listed)
