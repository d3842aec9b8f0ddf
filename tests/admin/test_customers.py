"""Customer 360: found by phone in any spelling, email, card or order number; names escaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.admin.conftest import ConsoleApp
from tests.admin.support import make_customer


@pytest.mark.parametrize(
    "query",
    ["8 (916) 123-45-67", "+7 916 1234567", "MARIA@example.com", "2000000000017", "1001", "77"],
)
def test_a_customer_is_found_by_phone_email_card_or_order_number(
    console_app: ConsoleApp, query: str
) -> None:
    make_customer(console_app.services)
    page = console_app.client("viewer").get("/admin/customers/", query_string={"q": query}).text
    assert 'data-customer="cust-1"' in page
    assert "C1:PREPARATION" in page  # the deal's stage
    assert "in_transit" in page  # the shipment
    assert "2000000000017" in page  # the bonus card


def test_records_link_to_the_system_without_its_secret(console_app: ConsoleApp) -> None:
    from connector.admin.pages.customers import record_url

    settings = console_app.services.settings.replace(
        bitrix24_webhook_url="https://portal.example/rest/1/s3cr3t/",
        woocommerce_url="https://shop.example/store",
    )
    assert record_url(settings, "bitrix24", "order", "77") == (
        "https://portal.example/crm/deal/details/77/"
    )
    assert record_url(settings, "woocommerce", "customer", "7") == (
        "https://shop.example/store/wp-admin/user-edit.php?user_id=7"
    )
    assert record_url(settings, "mailchimp", "customer", "7") is None


def test_a_name_that_is_a_script_shows_as_text(console_app: ConsoleApp) -> None:
    make_customer(console_app.services, first_name="<script>alert(1)</script>")
    page = console_app.client("viewer").get("/admin/customers/?q=maria@example.com").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_unknown_query_says_nobody_was_found(console_app: ConsoleApp) -> None:
    page = console_app.client("viewer").get("/admin/customers/?q=nobody@example.com")
    assert page.status_code == 200 and 'id="nobody"' in page.text


def test_in_the_browser_a_script_in_a_name_is_text_and_never_runs(
    browser: Any, tmp_path: Path
) -> None:
    from connector.config import load_settings
    from tests.admin.conftest import build, own_env
    from tests.admin.live import served

    built = build(load_settings(env=own_env(tmp_path), env_file=None))
    make_customer(
        built.services, first_name="<script>alert(1)</script><img src=x onerror=alert(2)>"
    )
    with served(built, browser) as console:
        page = console.page("viewer")
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto("/admin/customers/?q=maria@example.com")
        name = page.locator("h2.name").inner_text()
        assert name.startswith("<script>alert(1)</script><img src=x onerror=alert(2)>")
        assert dialogs == []
