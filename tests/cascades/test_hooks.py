"""The flows tell the engine what happened, inside their own transactions: an order placed or
moved to a status through the real order flow, a segment entry recorded by analytics."""

from __future__ import annotations

from connector.analytics.keeper import record_transitions
from connector.analytics.rules import AnalyticsRules
from tests.analytics.conftest import Shop
from tests.cascades.conftest import World

SCENARIOS = """\
cascades:
  scenarios:
    review:
      trigger: {event: order.status, status: delivered, after: 2d}
      steps: [{channel: fakemail, subject: "How was order {order.number}?", marketing: false}]
    winback:
      trigger: {event: segment.entered, segment: At risk}
      stop: [order_placed]
      steps: [{channel: fakemail, subject: "We miss you", delay: 1d}]
"""
DAY = 86400.0


def test_an_order_delivered_through_the_order_flow_asks_for_a_review_two_days_later(
    world: World,
) -> None:
    world.write_scenarios(SCENARIOS)
    shop = Shop(world.services, world.clock)  # type: ignore[arg-type]
    cid = shop.order("A-1", "50.00", email="anna@example.com", status="processing")
    world.run_due()
    assert world.runs() == [], "processing starts no review"
    shop.order("A-1", "50.00", email="anna@example.com", status="delivered", version=2)
    shop.order("A-1", "50.00", email="anna@example.com", status="delivered", version=3)
    world.run_due()
    [run] = world.runs()
    assert (run.scenario, run.customer_id) == ("review", cid)
    world.clock.advance(2 * DAY + 1)
    world.run_due()
    assert [m.subject for m in world.mail.sent] == ["How was order ?"]  # no number in this shop


def test_an_entry_into_at_risk_starts_the_win_back_and_an_order_converts_it(world: World) -> None:
    world.write_scenarios(SCENARIOS)
    cid = world.customer()
    transition = {"customer_id": cid, "from_segment": "Loyal", "to_segment": "At risk",
                  "at": world.clock(), "cause": "nightly", "detail": {}}  # fmt: skip
    with world.services.engine.begin() as connection:
        record_transitions(connection, world.services, AnalyticsRules(), [transition])
    world.run_due()
    [run] = world.runs()
    assert run.scenario == "winback"
    shop = Shop(world.services, world.clock)  # type: ignore[arg-type]
    world.clock.advance(3600)
    shop.order("B-1", "20.00", email="anna@example.com", phone="+79161234567")
    world.run_due()
    [run] = world.runs()
    assert (run.state, run.stop_reason, run.converted_step) == ("converted", "order placed", None)
    world.clock.advance(DAY)
    world.run_due()
    assert world.mail.sent == []
