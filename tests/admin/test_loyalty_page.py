"""The loyalty page: balance and history, a manual adjustment with its reason, the rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.config import load_settings
from connector.loyalty.ledger import InsufficientBalance
from connector.loyalty.tasks import provider_for
from connector.store import reading
from connector.store.tables import admin_actions
from tests.admin.conftest import Console, ConsoleApp, build, csrf
from tests.admin.live import served


def with_bonuses(app: ConsoleApp, customer: str = "cust-1", amount: str = "100") -> str:
    """A customer with `amount` available bonuses; returns the card number."""
    provider = provider_for(app.services)
    provider.accrue(customer, "welcome", Decimal(amount), "welcome gift")
    balance = provider.balance(customer)
    assert balance is not None and balance.card_number
    return balance.card_number


@pytest.fixture
def loyalty_console(browser: Any, tmp_path: Path) -> Iterator[Console]:
    env = {"CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}"}
    with served(build(load_settings(env=env, env_file=None)), browser) as running:
        yield running


def test_an_operator_adjusts_a_balance_only_with_a_reason(loyalty_console: Console) -> None:
    card = with_bonuses(loyalty_console)
    page = loyalty_console.page("operator")
    page.goto("/admin/loyalty/")
    assert page.locator("#loyalty-rules").count() == 1
    page.fill("#loyalty-q", card)
    page.click("form.filters button")
    page.wait_for_url("**/admin/loyalty/customer/cust-1")
    assert page.locator("#available").inner_text() == "100.00"

    page.fill("input[name=amount]", "-30,50")
    page.fill("input[name=reason]", "   ")  # the browser's `required` lets spaces through
    page.click("#adjust")
    assert "Reason: required" in page.locator("#adjust-error").inner_text()
    assert page.locator("#available").inner_text() == "100.00"

    page.fill("input[name=reason]", "order 1042 was accrued twice")
    page.click("#adjust")
    page.wait_for_url("**notice=loyalty.adjusted**")
    assert page.locator("#available").inner_text() == "69.50"
    row = page.locator("#history tr[data-kind=adjustment]")
    assert "order 1042 was accrued twice" in row.inner_text()
    assert "operator" in row.inner_text() and "-30.50" in row.inner_text()
    loyalty_console.shot(page, "admin-loyalty")
    with reading(loyalty_console.services.engine) as connection:
        trail = connection.execute(
            select(admin_actions.c.account, admin_actions.c.target, admin_actions.c.detail).where(
                admin_actions.c.action == "loyalty.adjust"
            )
        ).all()
    assert [tuple(row) for row in trail] == [
        ("operator", "cust-1", {"amount": "-30.50", "reason": "order 1042 was accrued twice"})
    ]


def test_the_same_form_sent_twice_adjusts_once(console_app: ConsoleApp) -> None:
    with_bonuses(console_app)
    operator = console_app.client("operator")
    page = operator.get("/admin/loyalty/customer/cust-1").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert nonce is not None
    form = {"csrf_token": csrf(page), "nonce": nonce.group(1), "amount": "5", "reason": "goodwill"}
    first = operator.post("/admin/loyalty/customer/cust-1/adjust", data=form)
    second = operator.post("/admin/loyalty/customer/cust-1/adjust", data=form)
    assert "loyalty.adjusted" in first.headers["Location"]
    assert "loyalty.already" in second.headers["Location"]
    balance = provider_for(console_app.services).balance("cust-1")
    assert balance is not None and balance.available == Decimal("105.00")


def test_bad_amounts_and_overdrafts_are_refused_and_a_viewer_cannot_adjust(
    console_app: ConsoleApp,
) -> None:
    with_bonuses(console_app)
    operator = console_app.client("operator")
    token = csrf(operator.get("/admin/loyalty/customer/cust-1").text)
    for amount, message in (
        ("0", "non-zero number"),
        ("1.005", "two decimals"),
        ("ten", "non-zero number"),
        ("-500", "fewer available bonuses"),
    ):
        answer = operator.post(
            "/admin/loyalty/customer/cust-1/adjust",
            data={"csrf_token": token, "nonce": amount, "amount": amount, "reason": "test"},
        )
        assert answer.status_code == 400 and message in answer.text, amount
    viewer = console_app.client("viewer")
    answer = viewer.post(
        "/admin/loyalty/customer/cust-1/adjust",
        data={
            "csrf_token": csrf(viewer.get("/admin/loyalty/").text),
            "nonce": "n",
            "amount": "5",
            "reason": "x",
        },
    )
    assert answer.status_code == 403
    balance = provider_for(console_app.services).balance("cust-1")
    assert balance is not None and balance.available == Decimal("100.00")


def test_an_adjustment_that_adds_is_a_lot_that_expires_and_one_that_takes_is_spent_first(
    console_app: ConsoleApp,
) -> None:
    provider = provider_for(console_app.services)
    provider.open_account("cust-2")
    assert provider.adjust("cust-2", "a", Decimal("10"), "goodwill", "operator")
    with pytest.raises(InsufficientBalance):
        provider.adjust("cust-2", "b", Decimal("-11"), "too much", "operator")
    [entry] = provider.history("cust-2")
    assert entry.kind == "adjustment" and entry.expires_at is not None
    assert entry.detail == {"reason": "goodwill", "by": "operator"}
    assert provider.expire_due(now=entry.expires_at + 1) == 1
    balance = provider.balance("cust-2")
    assert balance is not None and balance.available == Decimal("0.00")


def test_an_unknown_customer_is_not_found(console_app: ConsoleApp) -> None:
    viewer = console_app.client("viewer")
    answer = viewer.get("/admin/loyalty/?q=%2B380671234567")
    assert answer.status_code == 404 and "No bonus account" in answer.text
    assert viewer.get("/admin/loyalty/customer/nobody").status_code == 404
