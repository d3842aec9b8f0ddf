"""The console's segments page: sizes, shares, revenue and bars, and the latest transitions."""

from __future__ import annotations

from connector.analytics.keeper import recompute_all
from tests.admin.conftest import ConsoleApp
from tests.analytics.conftest import Clock, Shop


def test_the_segments_page_shows_each_segment_with_its_bar_and_the_transitions(
    console_app: ConsoleApp,
) -> None:
    import time

    services = console_app.services
    clock = Clock(time.time())
    services.queue.clock = clock
    shop = Shop(services, clock)
    shop.order("A-1", "120.00", email="ann@example.com", days_ago=3)
    shop.order("B-1", "30.00", email="bob@example.com", days_ago=300)
    shop.order("C-1", "20.00", email="cy@example.com", days_ago=250)
    recompute_all(services)

    page = console_app.client("viewer").get("/admin/segments/")

    assert page.status_code == 200
    html = page.text
    assert '<tr data-segment="Hibernating"><td>Hibernating</td><td class="num">2</td>' in html
    assert '<td class="num">66.7%</td><td class="num">50.00</td>' in html
    assert '<meter min="0" max="2" value="1"' in html  # New customers: half the longest bar
    moves = html[html.index('id="segment-moves"') :]
    # the newest transition first: Cy's, Bob's, then Ann's
    assert moves.index("Hibernating</td><td>order") < moves.index("New customers</td><td>order")


def test_a_stranger_is_sent_to_sign_in(console_app: ConsoleApp) -> None:
    answer = console_app.client().get("/admin/segments/")

    assert answer.status_code in (302, 303)
