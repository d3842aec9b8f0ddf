"""The Open Loyalty adapter against the sandbox emulator: add points, spend, reverse, resend."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from connector.loyalty import OrderEvent
from connector.loyalty.openloyalty import OpenLoyaltyProvider, transfer_id
from connector.loyalty.tasks import provider_for
from connector.services import Services
from connector.store.tables import identity_keys, links
from tests.loyalty.conftest import DAY
from tests.support import make_settings


@pytest.fixture
def ol_services(tmp_path: Path, fresh_sandbox, store_url: str):
    env = fresh_sandbox.settings_env()
    built = Services(
        make_settings(
            tmp_path,
            database_url=store_url,
            loyalty_provider="openloyalty",
            openloyalty_url=env["CONNECTOR_OPENLOYALTY_URL"],
            openloyalty_token=env["CONNECTOR_OPENLOYALTY_TOKEN"],
        )
    )
    with built.engine.begin() as connection:
        connection.execute(
            insert(identity_keys).values(kind="email", value="olena@example.com", canonical_id="c1")
        )
    yield built
    built.close()


@pytest.fixture
def provider(ol_services) -> OpenLoyaltyProvider:
    found = provider_for(ol_services)
    assert isinstance(found, OpenLoyaltyProvider)
    return found


def transfers(sandbox) -> dict[str, dict]:
    return sandbox.apps["openloyalty"].extensions["openloyalty"].dump()["transfers"]


def test_accrual_adds_points_under_our_transfer_id(provider, fresh_sandbox) -> None:
    provider.accrue("c1", "pos:receipt-1", Decimal(100))
    balance = provider.balance("c1")
    assert balance.available == Decimal("100.00")
    sent = transfers(fresh_sandbox)
    assert list(sent) == [transfer_id("accrual:c1:pos:receipt-1")]
    assert sent[transfer_id("accrual:c1:pos:receipt-1")]["type"] == "adding"


def test_the_member_is_registered_once_with_card_and_email(provider, fresh_sandbox) -> None:
    provider.accrue("c1", "a", Decimal(1))
    provider.accrue("c1", "b", Decimal(1))
    customers = fresh_sandbox.apps["openloyalty"].extensions["openloyalty"].dump()["customers"]
    assert len(customers) == 1
    member = next(iter(customers.values()))
    assert member["email"] == "olena@example.com"
    assert member["loyaltyCardNumber"] == provider.ledger.balance("c1").card_number


def test_hold_spends_and_release_gives_back(provider) -> None:
    provider.accrue("c1", "opening", Decimal(200))
    held = provider.hold("c1", "woo:1", Decimal(80))
    assert (held.available, held.held) == (Decimal("120.00"), Decimal("80.00"))
    released = provider.release("woo:1")
    assert (released.available, released.held) == (Decimal("200.00"), Decimal("0.00"))


def test_a_cancelled_order_reverses_by_cancelling_its_transfer(provider, fresh_sandbox) -> None:
    long_ago = provider.ledger.clock() - 30 * DAY
    provider.apply_order_event("c1", "woo:2", OrderEvent("paid", total=Decimal(1000), version=1))
    provider.apply_order_event("c1", "woo:2", OrderEvent("delivered", at=long_ago))
    assert provider.balance("c1").available == Decimal("50.00")
    provider.apply_order_event("c1", "woo:2", OrderEvent("returned", total=Decimal(1000)))
    assert provider.balance("c1").available == Decimal("0.00")
    states = {t["type"]: t["state"] for t in transfers(fresh_sandbox).values()}
    assert states == {"adding": "canceled"}


def test_a_partial_refund_spends_its_share(provider, fresh_sandbox) -> None:
    long_ago = provider.ledger.clock() - 30 * DAY
    provider.apply_order_event("c1", "woo:3", OrderEvent("delivered", at=long_ago))
    provider.apply_order_event("c1", "woo:3", OrderEvent("paid", total=Decimal(1000), version=1))
    refund = OrderEvent("refunded", total=Decimal(1000), amount=Decimal(400), refund_id="r1")
    provider.apply_order_event("c1", "woo:3", refund)
    provider.apply_order_event("c1", "woo:3", refund)
    assert provider.balance("c1").available == Decimal("30.00")
    kinds = sorted(t["type"] for t in transfers(fresh_sandbox).values())
    assert kinds == ["adding", "spending"]


def test_a_push_interrupted_before_it_was_remembered_is_not_counted_twice(
    provider, ol_services
) -> None:
    provider.accrue("c1", "opening", Decimal(70))
    with ol_services.engine.begin() as connection:
        connection.execute(delete(links).where(links.c.entity == "loyalty_entry"))
    assert provider.push("c1") == 1  # sent again: Open Loyalty refuses the known transfer id
    assert provider.balance("c1").available == Decimal("70.00")


def test_an_outage_fails_the_call_and_the_next_push_catches_up(provider, fresh_sandbox) -> None:
    from connector.errors import TransientError

    provider.accrue("c1", "opening", Decimal(10))
    fresh_sandbox.faults("openloyalty", error_rate=1.0, statuses=[503])
    with pytest.raises(TransientError):
        provider.accrue("c1", "second", Decimal(5))
    fresh_sandbox.faults("openloyalty", error_rate=0.0)
    provider.release_due()
    assert provider.balance("c1").available == Decimal("15.00")
