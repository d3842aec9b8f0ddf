"""Every customer's figures from the orders of every channel, net of refunds and cancellations,
kept current by the order flow and equal to what the nightly recompute finds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.analytics.figures import public
from connector.analytics.keeper import figures_of, recompute_all, segment_sizes
from tests.analytics.conftest import DAY, START, Shop

PHONE = "+380671111111"


def sell_the_known_history(shop: Shop) -> dict[str, str]:
    """A dozen orders of six people; what each one's figures must be is in the test below."""
    ann = shop.order("A-1", "100.00", email="ann@example.com", phone=PHONE, days_ago=200,
                     category="shoes")  # fmt: skip
    # the same person with another e-mail, known by her phone, in another channel
    ann2 = shop.order("W-7", "50.00", email="ann.work@example.com", phone=PHONE, days_ago=100,
                      system="woocommerce", status="completed", category="bags")  # fmt: skip
    ann3 = shop.order("K-9", "150.00", phone=PHONE, days_ago=10, system="kaspi",
                      status="delivered", category="shoes")  # fmt: skip
    shop.order("A-2", "80.00", email="ann@example.com", days_ago=5, status="cancelled")
    assert ann == ann2 == ann3
    bob = shop.order("B-1", "40.00", email="bob@example.com", days_ago=20, refunded="15.00")
    cid = shop.order("C-1", "60.00", email="cid@example.com", days_ago=15)
    shop.order("C-1", "60.00", email="cid@example.com", days_ago=15, status="refunded", version=2)
    dan = ""
    for number, days in enumerate((400, 300, 250, 200, 120)):
        dan = shop.order(f"D-{number}", "20.00", email="dan@example.com", days_ago=days)
    eve = shop.order("E-1", "500.00", email="eve@example.com", days_ago=800)  # past look-back
    shop.order("E-2", "30.00", email="eve@example.com", days_ago=30)
    fay = shop.order("F-1", "70.00", email="fay@example.com", days_ago=3, status="pending")
    return {"ann": ann, "bob": bob, "cid": cid, "dan": dan, "eve": eve, "fay": fay}


# name: orders, revenue, average check, days since first / last order, mean days between,
# favourite channel and category, R, F, segment
EXPECTED = {
    "ann": (3, 300.0, 100.0, 200, 10, 95.0, "kaspi", "shoes", 5, 3, "Potential loyalists"),
    "bob": (1, 25.0, 25.0, 20, 20, None, "shop", None, 5, 1, "New customers"),
    "cid": (0, 0.0, None, None, None, None, None, None, None, None, None),
    "dan": (5, 100.0, 20.0, 400, 120, 70.0, "shop", None, 2, 4, "At risk"),
    "eve": (1, 30.0, 30.0, 30, 30, None, "shop", None, 5, 1, "New customers"),
    "fay": None,  # an unpaid order: no figures at all
}


def as_table(services, people: dict[str, str]) -> dict[str, tuple | None]:
    table: dict[str, tuple | None] = {}
    for name, customer in people.items():
        row = figures_of(services.engine, customer)
        if row is None:
            table[name] = None
            continue
        shown = public(row)
        days = [
            None if row[k] is None else round((START - row[k]) / DAY)
            for k in ("first_order_at", "last_order_at")
        ]
        table[name] = (
            row["orders_count"],
            shown["revenue"],
            shown["average_check"],
            *days,
            row["mean_days_between"],
            row["favourite_channel"],
            row["favourite_category"],
            row["r"],
            row["f"],
            row["segment"],
        )
    return table


def test_the_order_flow_keeps_the_figures_of_a_known_history(services, shop):
    people = sell_the_known_history(shop)

    assert as_table(services, people) == EXPECTED


def test_the_nightly_recompute_finds_what_the_order_flow_kept(services, shop):
    people = sell_the_known_history(shop)
    kept = as_table(services, people)

    report = recompute_all(services)

    assert as_table(services, people) == kept == EXPECTED
    assert report.customers == 5  # Fay never had a counted order; Cid's was refunded
    assert dict((name, n) for name, n, _ in segment_sizes(services.engine)) == {
        "New customers": 2,
        "Potential loyalists": 1,
        "At risk": 1,
    }


def test_a_refund_lowers_the_revenue_and_the_average_check(services, shop):
    bob = shop.order("B-1", "40.00", email="bob@example.com", days_ago=2)
    shop.order("B-2", "60.00", email="bob@example.com", days_ago=1)
    assert public(figures_of(services.engine, bob))["revenue"] == 100.0

    shop.order("B-2", "60.00", email="bob@example.com", days_ago=1, refunded="20.00", version=2)

    figures = public(figures_of(services.engine, bob))
    assert (figures["orders_count"], figures["revenue"], figures["average_check"]) == (
        2,
        80.0,
        40.0,
    )


def test_a_cancellation_takes_the_order_out_of_the_figures(services, shop):
    bob = shop.order("B-1", "40.00", email="bob@example.com", days_ago=2)
    shop.order("B-2", "60.00", email="bob@example.com", days_ago=1)

    shop.order("B-2", "60.00", email="bob@example.com", days_ago=1, status="cancelled", version=2)

    figures = figures_of(services.engine, bob)
    assert (figures["orders_count"], figures["revenue"]) == (1, 4000)


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["O-1", "O-2", "O-3", "O-4"]),
        st.sampled_from(["ann@example.com", "bob@example.com"]),
        st.sampled_from(["processing", "completed", "cancelled", "refunded", "pending"]),
        st.integers(min_value=1, max_value=400),  # days ago
        st.sampled_from([None, "5.00", "10.00"]),  # refunded
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(events=EVENTS)
def test_the_incremental_update_after_any_order_events_equals_a_full_recompute(
    services, clock, events
):
    # one store for every example: each example's people and orders have names of their own
    clock.advance(days=1)
    run = f"{clock():.0f}"
    shop = Shop(services, clock)
    people: set[str] = set()
    for version, (order_id, email, status, days, refunded) in enumerate(events, 1):
        people.add(shop.order(f"{run}-{order_id}", "10.00", email=f"{run}.{email}",
                              status=status, days_ago=days, refunded=refunded,
                              version=version))  # fmt: skip
    kept = {p: figures_of(services.engine, p) for p in people}
    recompute_all(services)
    found = {p: figures_of(services.engine, p) for p in people}
    for person in people:
        if kept[person] is None:  # never a counted order: the nightly run writes nothing
            assert found[person] is None
            continue
        assert own(found[person]) == own(kept[person])


def own(figures: dict) -> dict:
    """The figures of a customer's own history; M quintiles and the prediction depend on all
    customers and come from the nightly run."""
    shown = public(figures)
    return {k: v for k, v in shown.items() if k not in ("m", "rfm", "p_alive", "expected_orders")}
