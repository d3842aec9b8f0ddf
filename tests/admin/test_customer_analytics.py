"""Customer 360's analytics block: the figures, segment and why of `connector analytics show`,
in English and Russian, and a short line for a customer without a paid order."""

from __future__ import annotations

import time

from connector.analytics.keeper import figures_of, recompute_all
from tests.admin.conftest import ConsoleApp
from tests.admin.support import make_customer
from tests.analytics.conftest import Clock, Shop


def test_the_customer_page_shows_segment_revenue_and_why_in_both_languages(
    console_app: ConsoleApp,
) -> None:
    services = console_app.services
    clock = Clock(time.time())
    services.queue.clock = clock
    shop = Shop(services, clock)
    shop.order("A-1", "1200.00", email="ann@example.com", days_ago=40)
    ann = shop.order("A-2", "34.50", email="ann@example.com", days_ago=3)
    shop.order("B-1", "30.00", email="bob@example.com", days_ago=300)
    recompute_all(services)
    figures = figures_of(services.engine, ann)
    assert figures is not None and figures["segment"]
    name = figures["segment"]
    viewer = console_app.client("viewer")

    english = viewer.get("/admin/customers/?q=ann@example.com").text
    russian = viewer.get(
        "/admin/customers/?q=ann@example.com", headers={"Accept-Language": "ru"}
    ).text

    assert 'id="analytics"' in english and "Revenue (LTV)" in english
    assert '<td class="num" id="revenue">1,234.50</td>' in english
    assert f'id="segment"><strong>{name}</strong> · since ' in english
    assert f"segment {name}: the first grid row for" in english  # the CLI's `why` lines
    assert 'href="/admin/segments/"' in english
    assert 'id="customer-segment-moves"' in english
    assert "Выручка (LTV)" in russian and "Сегмент" in russian
    assert '<td class="num" id="revenue">1,234.50</td>' in russian
    assert f'id="segment"><strong>{name}</strong> · с ' in russian


def test_a_customer_without_paid_orders_gets_a_short_line(console_app: ConsoleApp) -> None:
    make_customer(console_app.services)
    viewer = console_app.client("viewer")

    english = viewer.get("/admin/customers/?q=maria@example.com").text
    russian = viewer.get(
        "/admin/customers/?q=maria@example.com", headers={"Accept-Language": "ru"}
    ).text

    assert 'id="no-figures"' in english and "No paid orders yet" in english
    assert 'id="analytics"' not in english
    assert "Оплаченных заказов пока нет" in russian
