"""The rules that keep data safe, under the way webhooks really arrive: repeated, shuffled, late,
as echoes of our own writes, and while the systems fail one call in five."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import delete

from connector.flows.hub import push
from connector.store.tables import links
from tests.e2e.test_carts import LINE


def shop_order(order_id: str, status: str, updated_at: str, email: str) -> dict:
    return {
        "id": order_id,
        "number": order_id,
        "status": status,
        "currency": "USD",
        "totals": {"total": "900.00"},
        "customer": {"email": email},
        "lines": [LINE],
        "updated_at": updated_at,
    }


def test_every_webhook_delivered_three_times_shuffled_has_one_effect(world):
    world.hold_webhooks()
    order = world.guest_order("thrice@example.com", "+380991234567", pay=True)
    assert world.replay(times=3) == 6  # order.created + order.updated, three times each
    world.settle()
    assert len(world.contacts()) == 1 and len(world.deals()) == 1
    assert len(world.writes(system="bitrix24", entity="deal", action="add")) == 1
    [deal] = world.deals()

    world.next_second()
    world.hold_webhooks()
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="WON")
    world.subscriber("thrice@example.com", "subscribe")
    world.wait_deliveries()
    assert world.replay(times=3) == 6
    world.settle()

    shop_order_now = world.state("woocommerce")["orders"][0]
    assert shop_order_now["id"] == order["id"] and shop_order_now["status"] == "completed"
    assert len(world.writes(system="woocommerce", entity="order")) == 1
    [member] = world.members().values()
    assert member["status"] == "subscribed"
    kinds = world.task_kinds()
    # one task per distinct delivery: created, paid, and the echo of our status change
    assert kinds.count("woocommerce.order") == 3
    assert kinds.count("mailchimp.event") == 1
    assert world.dead_letters() == []


def test_shop_events_repeated_and_shuffled_apply_the_newest_once(world):
    newer = shop_order("S-9", "completed", "2026-11-21T12:00:00+00:00", "pos@example.com")
    older = shop_order("S-9", "pending", "2026-11-21T11:00:00+00:00", "pos@example.com")
    for data in (newer, older, newer, older, older, newer):
        world.shop_event("order.updated", data)
    world.settle()

    [deal] = world.deals()
    assert deal["STAGE_ID"] == "WON"  # the older "pending" never overwrote it
    assert len(world.writes(system="bitrix24", entity="deal", action="add")) == 1
    assert len(world.store_items("orders")) == 1
    assert world.dead_letters() == []


def test_our_own_writes_coming_back_are_dropped(world):
    order = world.guest_order("echo@example.com", pay=True)
    world.settle()
    before = {
        "deal": len(world.writes(system="bitrix24", entity="deal")),
        "mailchimp": len(world.writes(system="mailchimp")),
    }
    events_seen = world.task_kinds().count("bitrix24.event")
    assert events_seen >= 3  # ONCRMCONTACTADD, ONCRMDEALADD, ONCRMDEALUPDATE: all our echoes

    world.next_second()
    [deal] = world.deals()
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="WON")
    world.settle()

    # the stage move reached the shop once; the shop's order.updated echo wrote nothing back
    assert len(world.writes(system="woocommerce", entity="order")) == 1
    assert len(world.writes(system="bitrix24", entity="deal")) == before["deal"]
    # (the ledger may publish a new bonus balance: that is news, not an echo)
    assert len(world.writes(system="bitrix24", entity="contact", action="update")) == 0
    assert world.deals()[0]["STAGE_ID"] == "WON"
    comments = world.state("bitrix24")["timeline_comments"]
    assert comments == []  # the CRM's own move is not narrated back to it
    statuses = [o["status"] for o in world.state("woocommerce")["orders"] if o["id"] == order["id"]]
    assert statuses == ["completed"]


def test_a_late_mailchimp_event_does_not_undo_a_newer_one(world):
    world.shop_event(
        "customer.created", {"id": "L-1", "email": "late@example.com", "marketing_consent": True}
    )
    world.settle()
    secret = world.services.settings.mailchimp_webhook_secret

    def deliver(kind: str, fired_at: str) -> None:
        form = {
            "type": kind,
            "fired_at": fired_at,
            "data[email]": "late@example.com",
            "data[list_id]": world.services.settings.mailchimp_list_id,
            "data[id]": "x",
            "data[reason]": "manual",
            "data[action]": "unsub",
        }
        answer = world.client.post(
            f"/webhooks/mailchimp/{secret}",
            data=urlencode(form),
            content_type="application/x-www-form-urlencoded",
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)

    deliver("subscribe", "2026-11-21 12:00:00")
    deliver("unsubscribe", "2026-11-21 11:00:00")  # happened before the subscribe
    world.settle()

    [contact] = world.contacts()
    assert contact["UF_CRM_MARKETING_CONSENT"] in ("1", 1, True, "Y")
    assert world.dead_letters() == []


def test_with_one_call_in_five_failing_everything_converges_exactly_once(world):
    world.run_threaded(threads=4)  # concurrent tasks, as in production
    world.faults(0.2)
    first = world.guest_order("flaky@example.com", "+380631111111", pay=True)
    world.guest_order("FLAKY@example.com", "+38 063 111 11 11", pay=True)
    world.guest_order("other@example.com", "+380632222222", pay=False)
    world.shop_event("customer.created", {"id": "F-1", "email": "flaky@example.com"})
    world.settle(timeout=60)
    [deal] = [d for d in world.deals() if d["ORIGIN_ID"] == f"woocommerce-{first['id']}"]
    world.next_second()
    world.crm("/act/deal", id=int(deal["ID"]), stage_id="WON")
    world.settle(timeout=60)
    injected = 0
    for name in ("woocommerce", "bitrix24", "mailchimp"):
        injected += world.sandbox.control(name, "GET", "/faults").json()["counters"]["errors"]
        world.sandbox.control(name, "DELETE", "/faults")
    assert injected >= 5  # the story really ran through failures

    dead = world.dead_letters()
    assert dead == [], [(d["kind"], d["last_error"]) for d in dead]
    assert len(world.contacts()) == 2
    assert len(world.deals()) == 3
    assert len(world.store_items("orders")) == 3
    assert len(world.members()) == 2
    shop = {o["id"]: o["status"] for o in world.state("woocommerce")["orders"]}
    assert shop[first["id"]] == "completed"


def test_a_write_whose_answer_was_lost_is_found_again_not_repeated(world):
    """An add that succeeded in Bitrix24 but whose answer never came back leaves no link; the
    retry finds the deal by ORIGIN_ID and the contact by duplicate search."""
    world.guest_order("lost@example.com", "+380501234567", pay=True)
    world.settle()
    with world.services.engine.begin() as connection:
        connection.execute(delete(links).where(links.c.system == "bitrix24"))

    world.shop_event("customer.updated", {"id": "L-9", "email": "lost@example.com"})
    for oid in {t["payload"]["id"] for t in world.tasks_of("push.bitrix24.deal")}:
        with world.services.engine.begin() as connection:
            push(connection, world.services, "push.bitrix24.deal", oid)
    world.settle()

    assert len(world.contacts()) == 1
    assert len(world.deals()) == 1
    assert len(world.writes(system="bitrix24", entity="deal", action="add")) == 1
    assert world.dead_letters() == []
