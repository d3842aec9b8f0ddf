"""`connector cascades report`: per scenario, who entered, what each step sent, skipped and got
delivered, who converted after which step and how fast, and why the rest stopped; read in a few
grouped queries, printed as a table and a funnel, and as JSON."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from connector.cascades.report import duration, period_seconds, render, report
from connector.errors import ConfigError
from connector.services import Services
from tests.cascades.report_rows import Send, add_run

DAY = 86400.0
NOW = 1_796_000_000.0  # 2026-11-30


def seed(services: Services) -> None:
    engine = services.engine
    cart = "abandoned_cart"
    start = NOW - 2 * DAY
    add_run(
        engine,
        cart,
        "a",
        "converted",
        started_at=start,
        took=7200,
        converted_step=0,
        converted_ref="order-a",
        sends=[Send(0, "mandrill", status="delivered")],
    )
    add_run(
        engine,
        cart,
        "b",
        "converted",
        started_at=start,
        took=6 * 3600,
        converted_step=1,
        converted_ref="order-b",
        sends=[Send(0, "mandrill", status="delivered"), Send(1, "smsru", status="delivered")],
    )
    add_run(
        engine,
        cart,
        "c",
        "stopped",
        started_at=start,
        took=DAY,
        stop_reason="opted out",
        sends=[Send(0, "mandrill"), Send(1, "smsru", "skipped", reason="no consent")],
    )
    add_run(
        engine, cart, "d", "running", started_at=start, sends=[Send(0, "mandrill", status="sent")]
    )
    add_run(
        engine,
        cart,
        "e",
        "finished",
        started_at=start,
        took=2 * DAY,
        sends=[
            Send(0, "mandrill", status="read"),
            Send(1, "smsru", "skipped", reason="no address"),
            Send(2, "telegram", status="delivered"),
        ],
    )
    add_run(engine, cart, "f", "converted", started_at=start, took=600, converted_ref="order-f")
    add_run(engine, cart, "g", "running", started_at=start, sends=[Send(0, "mandrill", "unknown")])
    add_run(
        engine,
        cart,
        "old",
        "converted",
        started_at=NOW - 30 * DAY,
        took=60,
        converted_step=0,
        sends=[Send(0, "twilio", status="delivered")],
    )
    add_run(
        engine,
        "pickup",
        "a",
        "stopped",
        started_at=start,
        took=3600,
        stop_reason="parcel collected",
        sends=[Send(0, "twilio", "failed", reason="refused")],
    )


def test_the_report_counts_entries_sends_skips_deliveries_and_conversions_per_step(
    services: Services,
) -> None:
    seed(services)

    found = {r.scenario: r for r in report(services.engine, since=NOW - 7 * DAY)}

    cart = found["abandoned_cart"]
    assert (cart.entered, cart.running, cart.converted, cart.finished) == (7, 2, 3, 1)
    assert cart.stopped == {"opted out": 1}
    assert cart.conversion_rate == pytest.approx(3 / 7)
    assert cart.median_seconds_to_convert == 7200  # of 600, 7200 and 21600 s
    assert cart.converted_before_any_send == 1
    first, second, third = cart.steps
    assert (first.sent, first.delivered, first.unknown, first.converted) == (5, 3, 1, 1)
    assert first.channels == {"mandrill": 5}
    assert (second.sent, second.delivered, second.converted) == (1, 1, 1)
    assert second.skipped == {"no address": 1, "no consent": 1}
    assert (third.sent, third.channels, third.converted) == (1, {"telegram": 1}, 0)
    pickup = found["pickup"]
    assert pickup.stopped == {"parcel collected": 1} and pickup.steps[0].failed == 1
    assert pickup.median_seconds_to_convert is None and pickup.conversion_rate == 0


def test_without_a_period_every_run_counts_and_one_scenario_can_be_asked_for(
    services: Services,
) -> None:
    seed(services)

    (cart,) = report(services.engine, scenario="abandoned_cart")

    assert cart.entered == 8 and cart.converted == 4
    assert cart.steps[0].channels == {"mandrill": 5, "twilio": 1}
    assert cart.median_seconds_to_convert == (600 + 7200) / 2  # an even count: the two middles


def test_declared_scenarios_and_steps_show_even_before_anyone_enters(services: Services) -> None:
    (review,) = report(services.engine, declared={"review_request": 2})

    assert review.entered == 0 and [s.sent for s in review.steps] == [0, 0]
    assert "scenario review_request" in render([review])


def test_the_report_reads_a_few_grouped_queries_however_many_runs(services: Services) -> None:
    for number in range(60):
        add_run(
            services.engine,
            f"s{number % 3}",
            f"c{number}",
            "converted",
            started_at=NOW,
            took=60.0 * number,
            converted_step=0,
            sends=[Send(0, "smsru")],
        )
    statements: list[str] = []
    event.listen(services.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    found = report(services.engine)

    assert [r.entered for r in found] == [20, 20, 20]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3 + 3  # runs, stops, sends; a median read per converted scenario


def test_the_terminal_shows_a_step_table_and_a_funnel(services: Services) -> None:
    seed(services)

    text = render(report(services.engine, since=NOW - 7 * DAY), since=NOW - 7 * DAY)

    assert "scenario abandoned_cart (since 2026-11-23" in text
    assert "entered 7 · converted 3 (42.9%) · median time to convert 2 h" in text
    assert "no address 1, no consent 1" in text
    funnel = [line.split() for line in text.splitlines() if line.startswith("  ")]
    assert ["entered", "7", "█" * 40] in funnel
    assert ["step", "1", "sent", "5", "█" * 29] in funnel
    assert ["converted", "3", "█" * 17] in funnel
    assert "stopped: opted out 1" in text


def test_periods_are_read_in_minutes_hours_days_and_weeks_and_nonsense_is_named() -> None:
    assert [period_seconds(p) for p in ("30m", "12h", "7d", "2w")] == [
        1800,
        43200,
        604800,
        1209600,
    ]
    with pytest.raises(ConfigError, match="--since: 'yesterday' is no period"):
        period_seconds("yesterday")
    assert [duration(s) for s in (None, 42, 720, 18720, 273600)] == [
        "-",
        "42 s",
        "12 min",
        "5 h 12 min",
        "3 d 4 h",
    ]
