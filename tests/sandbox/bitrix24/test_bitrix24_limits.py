"""The leaky bucket and the operating-time budget answer exactly at the documented limits."""

from __future__ import annotations

from connector_sandbox.bitrix24 import Bitrix24Config, create_app

from .conftest import FakeClock, Portal, spec


def test_request_51_in_the_same_instant_is_refused_and_half_a_second_frees_one(
    portal: Portal, clock: FakeClock
) -> None:
    for _ in range(50):
        portal.call("crm.contact.list")
    refused = portal.call("crm.contact.list", status=503)
    assert refused == spec("errors/error.QUERY_LIMIT_EXCEEDED.503.json")
    clock.advance(0.5)
    portal.call("crm.contact.list")
    portal.call("crm.contact.list", status=503)


def test_refused_requests_do_not_fill_the_bucket(portal: Portal, clock: FakeClock) -> None:
    for _ in range(50):
        portal.call("crm.contact.list")
    for _ in range(10):
        portal.call("crm.contact.list", status=503)
    clock.advance(1.0)
    portal.call("crm.contact.list")
    portal.call("crm.contact.list")
    portal.call("crm.contact.list", status=503)


def test_a_batch_of_fifty_commands_counts_as_one_request(portal: Portal, clock: FakeClock) -> None:
    cmd = {f"c{i}": "crm.contact.list" for i in range(50)}
    for _ in range(50):
        body = portal.call("batch", {"cmd": cmd})
        assert body["result"]["result_error"] == []
    portal.call("batch", {"cmd": cmd}, status=503)


def test_enterprise_burst_and_drain_are_configurable(clock: FakeClock) -> None:
    app = create_app(Bitrix24Config(clock=clock, rate_limit_burst=250, rate_limit_drain=5))
    client = app.test_client()
    codes = [client.get("/rest/1/sandboxtoken/crm.deal.list").status_code for _ in range(251)]
    assert codes.count(200) == 250 and codes[-1] == 503
    clock.advance(0.2)
    assert client.get("/rest/1/sandboxtoken/crm.deal.list").status_code == 200


def test_the_call_that_crosses_the_operating_limit_runs_and_the_next_is_429(
    clock: FakeClock,
) -> None:
    config = Bitrix24Config(clock=clock, operating_costs={"crm.deal.list": 100.0})
    portal = Portal(create_app(config).test_client(), None)  # type: ignore[arg-type]
    for expected in (100, 200, 300, 400, 500):
        body = portal.call("crm.deal.list")
        assert body["time"]["operating"] == expected
        clock.advance(61)  # stay under the leaky bucket and open a new one-minute basket
    refused = portal.call("crm.deal.list", status=429)
    assert refused == spec("errors/error.OPERATION_TIME_LIMIT.429.json")
    # other methods keep working
    portal.call("crm.contact.list")
    # the first basket drops out 600 s after it opened
    clock.advance(600 - 5 * 61 + 1)
    assert portal.call("crm.deal.list")["time"]["operating"] == 500


def test_operating_reset_at_names_when_the_oldest_basket_drops_out(
    portal: Portal, clock: FakeClock
) -> None:
    first = portal.call("crm.contact.list")["time"]
    clock.advance(30)
    second = portal.call("crm.contact.list")["time"]
    assert first["operating_reset_at"] == int(clock.now - 30 + 600)
    assert second["operating_reset_at"] == first["operating_reset_at"]
    assert second["operating"] >= first["operating"]
