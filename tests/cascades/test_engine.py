"""The cascade engine on the connector's own store, with fake channels and a clock the test
moves: runs start once, steps go at their time, the purchase stops everything, each message is
sent exactly once, and every skip says why."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from connector.cascades.engine import run_step
from connector.cascades.outcomes import opt_out
from connector.errors import AuthError
from connector.http import RequestNotSent
from connector.store.tables import tasks
from tests.cascades.conftest import World

HOUR = 3600.0


def left_cart(world: World, cid: str = "c1", cart: str = "cart1", at: float | None = None) -> None:
    moment = world.clock() if at is None else at
    world.snapshot("cart", cart, {
        "id": cart, "customer_id": cid, "checkout_url": f"https://shop.example/c/{cart}",
        "custom": {"open": True},
        "updated_at": dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(),
    })  # fmt: skip
    world.notify("cart.updated", cid, cart, {"open": True, "version": str(moment)}, at=moment)


def buy(world: World, cid: str = "c1", order: str = "o1") -> None:
    now = dt.datetime.fromtimestamp(world.clock(), dt.UTC).isoformat()
    world.snapshot("customer", cid, {"custom": {"chat_id": "4242", "last_order_at": now}})
    world.notify("order.placed", cid, order, {"status": "processing"})


def test_a_left_cart_gets_an_email_then_an_sms_then_a_messenger_message_each_at_its_time(
    world: World,
) -> None:
    cid = world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR - 10)
    world.run_due()
    assert world.mail.sent == [], "the cart is not left for an hour yet"
    world.clock.advance(20)
    world.run_due()
    [email] = world.mail.sent
    assert email.subject == "Anna, your cart is waiting"
    assert email.text == "Finish here: https://shop.example/c/cart1"
    assert email.key == f"{world.runs()[0].id}:0"
    world.clock.advance(3 * HOUR)
    world.run_due()
    assert [m.text for m in world.sms.sent] == ["Anna, your cart: https://shop.example/c/cart1"]
    world.clock.advance(24 * HOUR)
    world.run_due()
    [chat] = world.chat.sent
    assert chat.text == f"Still thinking? https://chat.example/start/{cid}"  # its own variable
    [run] = world.runs()
    assert (run.state, run.step) == ("finished", 3)
    assert [(s.step, s.state, s.provider_id) for s in world.sends()] == [
        (0, "sent", "fakemail-1"), (1, "sent", "fakesms-1"), (2, "sent", "fakechat-1"),
    ]  # fmt: skip


def test_duplicated_reordered_and_retried_trigger_events_start_one_run(world: World) -> None:
    cid = world.customer()
    left_cart(world)
    left_cart(world)  # the same delivery twice: one task
    world.clock.advance(60)
    left_cart(world)  # a later change of the same cart: no second run
    world.run_due()
    world.notify("cart.updated", cid, "cart1", {"open": True, "version": "older"}, at=1.0)
    world.run_due()  # an old event arriving late
    with world.services.engine.begin() as connection:  # a retried task: its run exists
        from connector.cascades.engine import start_runs
        from connector.cascades.rules import rules_for

        rules = rules_for(world.services.settings)
        payload = {"event": "cart.updated", "customer_id": cid, "ref": "cart1",
                   "data": {"open": True}, "at": world.clock()}  # fmt: skip
        assert start_runs(connection, world.services, rules, payload, world.clock()) == []
    assert len(world.runs()) == 1
    assert len(world.due_steps()) == 1
    world.clock.advance(2 * HOUR)
    world.run_due()
    assert len(world.mail.sent) == 1


def test_a_purchase_converts_the_run_and_cancels_its_pending_steps(world: World) -> None:
    cid = world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.run_due()
    assert len(world.mail.sent) == 1
    world.clock.advance(HOUR)
    buy(world, cid, "o1")
    world.run_due()
    [run] = world.runs()
    assert (run.state, run.stop_reason) == ("converted", "order placed")
    assert (run.converted_step, run.converted_ref) == (0, "o1")  # the email brought her back
    with world.services.engine.connect() as connection:
        states = (
            connection.execute(
                select(tasks.c.state).where(tasks.c.dedupe_key == f"cascade:step:{run.id}:1")
            )
            .scalars()
            .all()
        )
    assert states == ["discarded"]
    world.clock.advance(3 * 24 * HOUR)
    world.run_due()
    assert world.sms.sent == [] and world.chat.sent == []


def test_a_purchase_the_step_finds_in_the_store_stops_it_even_when_its_event_is_late(
    world: World,
) -> None:
    cid = world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(30 * 60)
    now = dt.datetime.fromtimestamp(world.clock(), dt.UTC).isoformat()
    world.snapshot("customer", cid, {"custom": {"last_order_at": now}})  # no event yet
    world.clock.advance(HOUR)
    world.run_due()
    [run] = world.runs()
    assert (run.state, run.stop_reason) == ("converted", "order placed")
    assert world.mail.sent == []


def test_a_step_task_run_twice_sends_once(world: World) -> None:
    world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    [run] = world.runs()
    assert run_step(world.services, run.id, 0) == "sent"
    assert run_step(world.services, run.id, 0) == "nothing to do"
    world.run_due()  # the queued task itself, after the by-hand run
    assert len(world.mail.sent) == 1
    assert [s.state for s in world.sends()] == ["sent"]


def test_a_worker_killed_between_sent_and_recorded_does_not_send_again(world: World) -> None:
    world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.mail.die_after_send = 1  # the provider took it; the worker died before recording
    world.run_due()
    assert len(world.mail.sent) == 1
    [send] = world.sends()
    assert send.state == "reserved"
    world.clock.advance(60)  # the lease ran out: another worker claims the task
    world.run_due()
    assert len(world.mail.sent) == 1, "a channel without lookup is never asked twice"
    [send] = world.sends()
    assert (send.state, send.reason) == ("unknown", "reserved, then the worker stopped; "
                                         "not sent again")  # fmt: skip
    assert world.runs()[0].step == 1, "the run goes on to the SMS"


def test_a_send_that_surely_never_left_is_sent_by_the_retry_and_not_marked_unknown(
    world: World,
) -> None:
    world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.mail.fail_before_sending = [
        RequestNotSent("cannot connect: https://mandrillapp.com"),
        AuthError("mandrill: Invalid API key"),
    ]
    for _ in range(2):
        world.run_due()
        assert world.mail.sent == [] and world.sends() == [], "no reservation is left behind"
        world.clock.advance(HOUR)  # past the retry's backoff
    world.run_due()
    assert len(world.mail.sent) == 1
    [send] = world.sends()
    assert (send.state, send.provider_id) == ("sent", "fakemail-1")


def test_a_channel_with_lookup_finds_the_message_a_dead_worker_sent(world: World) -> None:
    world.customer()
    world.write_scenarios("""\
cascades:
  scenarios:
    winback:
      trigger: {event: segment.entered, segment: At risk}
      steps:
        - {channel: fakechat, text: "We miss you, {customer.first_name} ({segment.name})"}
""")
    world.notify("segment.entered", "c1", "At risk", {"segment": "At risk", "version": 1})
    world.chat.die_after_send = 1
    world.run_due()
    world.clock.advance(60)
    world.run_due()
    assert [m.text for m in world.chat.sent] == ["We miss you, Anna (At risk)"]
    [send] = world.sends()
    assert (send.state, send.provider_id) == ("sent", "fakechat-1")


def test_sms_inside_quiet_hours_waits_for_the_morning_in_the_customers_own_zone(
    world: World,
) -> None:
    # 18:30 UTC: 21:30 in Moscow (quiet), 13:30 in New York (not)
    world.clock.now = dt.datetime(2027, 1, 15, 18, 30, tzinfo=dt.UTC).timestamp()
    world.customer("moscow", phone="+79161234567", marketing_consent=True)
    world.customer("newyork", phone="+12125551234", email="ny@example.com")
    world.write_scenarios("""\
cascades:
  defaults: {quiet_hours: "21:00-09:00"}
  scenarios:
    nudge:
      trigger: {event: promo.sent}
      steps: [{channel: fakesms, text: "Hi {customer.first_name}"}]
""")
    world.notify("promo.sent", "moscow", "p1")
    world.notify("promo.sent", "newyork", "p1")
    world.run_due()
    assert [m.address for m in world.sms.sent] == ["+12125551234"]
    waiting = world.due_steps()
    assert len(waiting) == 1
    assert waiting[0].run_at == dt.datetime(2027, 1, 16, 6, 0, tzinfo=dt.UTC).timestamp()  # 09:00
    world.clock.now = waiting[0].run_at
    world.run_due()
    assert [m.address for m in world.sms.sent] == ["+12125551234", "+79161234567"]


def test_the_sms_cap_skips_a_third_sms_in_a_week_and_says_so(world: World) -> None:
    world.customer()
    world.write_scenarios("""\
cascades:
  defaults: {cap: {sms: 2 per 7d}}
  scenarios:
    nudge:
      trigger: {event: promo.sent}
      steps:
        - {channel: fakesms, text: "one"}
        - {channel: fakesms, text: "two", delay: 1d}
        - {channel: fakesms, text: "three", delay: 1d}
        - {channel: fakemail, subject: "four", delay: 1d}
""")
    world.notify("promo.sent", "c1", "p1")
    for _ in range(4):
        world.run_due()
        world.clock.advance(24 * HOUR + 1)
    assert [m.text for m in world.sms.sent] == ["one", "two"]
    assert [m.subject for m in world.mail.sent] == ["four"], "the run went on after the skip"
    skipped = [s for s in world.sends() if s.state == "skipped"]
    assert [(s.step, s.reason) for s in skipped] == [(2, "fakesms: cap sms 2 per 7d reached")]


def test_no_consent_skips_marketing_steps_but_not_service_messages(world: World) -> None:
    world.customer(marketing_consent=None)
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.run_due()
    assert world.mail.sent == []
    [send] = world.sends()
    assert (send.state, send.reason) == ("skipped", "no marketing consent")
    assert world.runs()[0].step == 1, "skipped to the next step"
    world.snapshot("shipment", "o9", {})
    world.notify("shipment.status", "c1", "o9", {"status": "arrived_at_pickup", "version": "1"})
    world.run_due()
    assert len(world.sms.sent) == 1, "a pickup reminder is a service message"


def test_a_channel_without_her_address_falls_to_the_next_one_and_none_is_a_skip(
    world: World,
) -> None:
    world.customer(email=None, custom={})
    world.write_scenarios("""\
cascades:
  scenarios:
    nudge:
      trigger: {event: promo.sent}
      steps:
        - {channel: [fakemail, fakesms], text: "first"}
        - {channel: [fakechat, fakemail], text: "second"}
""")
    world.notify("promo.sent", "c1", "p1")
    world.run_due()
    assert [m.text for m in world.sms.sent] == ["first"]
    [first, second] = world.sends()
    assert (first.channel, first.state) == ("fakesms", "sent")
    assert (second.state, second.reason) == (
        "skipped", "fakechat: no address; fakemail: no address",
    )  # fmt: skip
    assert world.runs()[0].state == "finished"


def test_a_stop_reply_skips_that_medium_and_stops_runs_that_stop_on_unsubscribes(
    world: World,
) -> None:
    world.customer()
    with world.services.engine.begin() as connection:
        opt_out(connection, "sms", "+79161234567", "fakesms", "STOP reply", world.clock())
    world.write_scenarios("""\
cascades:
  scenarios:
    nudge:
      trigger: {event: promo.sent}
      steps: [{channel: fakesms, text: "one"}, {channel: fakemail, subject: "two"}]
    strict:
      trigger: {event: promo.sent}
      stop: [unsubscribed]
      steps: [{channel: fakemail, subject: "never"}]
""")
    world.notify("promo.sent", "c1", "p1")
    world.run_due()
    assert world.sms.sent == []
    assert [m.subject for m in world.mail.sent] == ["two"]
    nudge, strict = world.runs()
    assert nudge.state == "finished"
    assert (strict.state, strict.stop_reason) == ("stopped", "unsubscribed (STOP reply)")
    assert [s.reason for s in world.sends() if s.state == "skipped"] == [
        "fakesms: opted out (STOP reply)"
    ]


def test_a_refused_message_is_recorded_failed_and_the_run_goes_on(world: World) -> None:
    world.customer()
    world.mail.refuse = "invalid recipient"
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.run_due()
    [send] = world.sends()
    assert (send.state, send.reason) == ("failed", "invalid recipient")
    assert world.runs()[0].step == 1


def test_a_collected_parcel_stops_its_pickup_reminders(world: World) -> None:
    world.customer()
    world.snapshot("shipment", "o9", {})
    world.notify("shipment.status", "c1", "o9", {"status": "arrived_at_pickup", "version": "1"})
    world.run_due()
    assert len(world.sms.sent) == 1
    world.notify("shipment.status", "c1", "o9", {"status": "delivered", "version": "2"})
    world.run_due()
    [run] = world.runs()
    assert (run.state, run.stop_reason) == ("stopped", "parcel collected")
    world.clock.advance(3 * 24 * HOUR)
    world.run_due()
    assert len(world.sms.sent) == 1


def test_a_cart_changed_again_waits_an_hour_from_its_last_change(world: World) -> None:
    world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(50 * 60)
    left_cart(world)  # she added an item 50 minutes later
    world.run_due()
    world.clock.advance(11 * 60)
    world.run_due()
    assert world.mail.sent == []
    world.clock.advance(50 * 60)
    world.run_due()
    assert len(world.mail.sent) == 1
    assert len(world.runs()) == 1


def test_no_scenario_on_an_event_queues_no_task(world: World) -> None:
    world.customer()
    assert world.notify("review.asked", "c1", "o1") is None
    assert world.notify("cart.updated", "c1", "cart1", {"open": True}) is not None


def test_trace_shows_each_run_its_sends_and_why_it_ended(world: World) -> None:
    from connector.sync.trace import trace_customer

    world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.run_due()
    world.snapshot("order", "o7", {"id": "o7", "customer_id": "c1", "number": "1007"})
    buy(world, "c1", "o7")
    world.run_due()
    found = trace_customer(world.services.engine, phone="+79161234567",
                           systems=world.services.systems)  # fmt: skip
    [run] = found.cascades
    assert (run["scenario"], run["state"], run["stop_reason"]) == (
        "abandoned_cart", "converted", "order placed",
    )  # fmt: skip
    assert (run["converted_step"], run["converted_ref"]) == (1, "o7")
    [send] = run["sends"]
    assert (send["step"], send["channel"], send["state"]) == (1, "fakemail", "sent")
    assert send["address"] == "a***@example.com"  # masked


def test_a_purchase_found_in_the_store_names_her_newest_order(world: World) -> None:
    world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.run_due()
    world.clock.advance(HOUR)
    now = dt.datetime.fromtimestamp(world.clock(), dt.UTC).isoformat()
    world.snapshot("order", "o8", {"id": "o8", "customer_id": "c1"})
    world.snapshot("customer", "c1", {"custom": {"chat_id": "4242", "last_order_at": now}})
    world.clock.advance(3 * HOUR)
    world.run_due()  # the SMS step finds the purchase before its event came
    [run] = world.runs()
    assert (run.state, run.converted_step, run.converted_ref) == ("converted", 0, "o8")
    assert world.sms.sent == []


def test_the_cascade_keys_keep_their_spelling() -> None:
    from connector import keys

    assert keys.cascade_customer("c1") == "cascade:customer:c1"
    assert keys.cascade_event("cart.updated", "c1", "cart9", "v2") == (
        "cascade:cart.updated:c1:cart9:v2"
    )
    assert keys.cascade_step(7, 1) == "cascade:step:7:1"
    assert keys.cascade_timeline(7) == "cascade:timeline:7"
    assert keys.lane("cascade.step") == "cascade"


def test_a_blocked_bot_stops_the_runs_that_stop_on_blocks_and_skips_it_for_the_others(
    world: World,
) -> None:
    world.customer()
    with world.services.engine.begin() as connection:
        opt_out(connection, "messenger", "4242", "fakechat", "blocked the bot", world.clock())
    world.write_scenarios("""\
cascades:
  scenarios:
    strict:
      trigger: {event: promo.sent}
      stop: [blocked]
      steps: [{channel: fakemail, subject: "never"}, {channel: fakechat, text: "never"}]
    lenient:
      trigger: {event: promo.sent}
      steps: [{channel: fakechat, text: "skipped"}, {channel: fakemail, subject: "sent"}]
""")
    world.notify("promo.sent", "c1", "p1")
    world.run_due()
    strict, lenient = world.runs()
    assert (strict.state, strict.stop_reason) == ("stopped", "blocked (blocked the bot)")
    assert lenient.state == "finished"
    assert [m.subject for m in world.mail.sent] == ["sent"] and world.chat.sent == []


def test_a_send_reserved_by_a_dead_worker_is_settled_even_after_the_run_converted(
    world: World,
) -> None:
    world.customer()
    left_cart(world)
    world.run_due()
    world.clock.advance(HOUR + 1)
    world.mail.die_after_send = 1
    world.run_due()
    buy(world)  # the purchase comes while the step's task waits for its lease to end
    world.run_due()
    world.clock.advance(60)
    world.run_due()
    [run] = world.runs()
    assert (run.state, run.converted_step) == ("converted", None)
    [send] = world.sends()
    assert send.state == "unknown", "no reservation is left behind"
    assert len(world.mail.sent) == 1


def test_a_channel_variable_is_made_only_for_a_text_that_uses_it(world: World) -> None:
    calls: list[str] = []
    made = world.chat.variables  # type: ignore[attr-defined]

    def counted(services, customer):  # type: ignore[no-untyped-def]
        calls.append(customer["id"])
        return made(services, customer)

    world.chat.variables = counted  # type: ignore[attr-defined]
    world.customer()
    world.write_scenarios("""\
cascades:
  scenarios:
    nudge:
      trigger: {event: promo.sent}
      steps: [{channel: fakechat, text: "plain"}, {channel: fakechat, text: "{chat_link}"}]
""")
    world.notify("promo.sent", "c1", "p1")
    world.run_due()
    assert [m.text for m in world.chat.sent] == ["plain", "https://chat.example/start/c1"]
    assert calls == ["c1"]
