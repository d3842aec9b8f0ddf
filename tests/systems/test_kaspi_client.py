"""Kaspi.kz client: the wire format of specs/kaspi, Kaspi's mandatory parameters, 14-day windows,
lines with the merchant's SKU, status changes and typed errors."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connector.errors import AuthError, ConfigError, PermanentError, TransientError
from connector.http import RetryPolicy
from connector.systems.kaspi.client import MAX_WINDOW_MS, KaspiClient, windows

API = "https://kaspi.kz/shop/api/v2"
TOKEN = "kaspi-test-token"
DAY = 86_400_000
T0 = 1_717_398_000_000


def make_client(**options) -> KaspiClient:
    retry = RetryPolicy(attempts=2, sleep=lambda s: None)
    return KaspiClient(None, TOKEN, retry=retry, **options)


def query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_a_page_of_orders_is_asked_with_every_parameter_kaspi_requires(spec):
    responses.get(f"{API}/orders", json=spec("kaspi/orders.page.json"))

    page = make_client().orders_page(T0, T0 + DAY, "NEW")

    [order] = page.orders
    assert order["attributes"]["customer"]["cellPhone"] == "7011234567"
    assert (page.page_count, page.total_count, page.last) == (1, 1, True)
    sent = responses.calls[0].request
    assert sent.headers["X-Auth-Token"] == TOKEN
    assert sent.headers["Content-Type"] == "application/vnd.api+json"
    assert query(responses.calls[0]) == {
        "page[number]": "0",
        "page[size]": "100",
        "filter[orders][creationDate][$ge]": str(T0),
        "filter[orders][creationDate][$le]": str(T0 + DAY),
        "filter[orders][state]": "NEW",
    }


def test_a_range_longer_than_14_days_is_read_in_windows_that_touch_but_never_overlap():
    parts = list(windows(T0, T0 + 30 * DAY))

    assert len(parts) == 3
    assert parts[0][0] == T0 and parts[-1][1] == T0 + 30 * DAY
    assert all(high - low < MAX_WINDOW_MS for low, high in parts)
    assert all(parts[i][1] + 1 == parts[i + 1][0] for i in range(len(parts) - 1))


@responses.activate
def test_listing_walks_every_window_state_and_page_from_page_zero():
    def answer(request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        page = int(params["page[number]"])
        state = params["filter[orders][state]"]
        low = params["filter[orders][creationDate][$ge]"]
        data = [{"type": "orders", "id": f"{state}-{low}-{page}"}]
        body = {"data": data, "meta": {"pageCount": 2 if state == "NEW" else 1, "totalCount": 2}}
        return 200, {}, json.dumps(body)

    responses.add_callback(responses.GET, f"{API}/orders", callback=answer)

    found = list(make_client().list_orders(T0, T0 + 20 * DAY, states=("NEW", "ARCHIVE")))

    asked = [query(c) for c in responses.calls]
    assert len(found) == 2 * (2 + 1)  # two windows; NEW has two pages, ARCHIVE one
    assert [a["page[number]"] for a in asked[:3]] == ["0", "1", "0"]
    spans = {
        (int(a["filter[orders][creationDate][$ge]"]), int(a["filter[orders][creationDate][$le]"]))
        for a in asked
    }
    assert all(high - low < MAX_WINDOW_MS for low, high in spans)


@responses.activate
def test_an_order_line_gets_the_merchants_own_sku(spec):
    order_id = "MTQ1MjM0NTY3OA"
    responses.get(f"{API}/orders/{order_id}/entries", json=spec("kaspi/order_entries.json"))
    responses.get(
        f"{API}/orderentries/ZW50cnkx/product",
        json={
            "data": {
                "type": "masterproducts",
                "id": "bXAxMjM",
                "attributes": {"code": "K1", "name": "Наушники X"},
            }
        },
    )
    responses.get(
        f"{API}/masterproducts/bXAxMjM/merchantProduct",
        json={
            "data": {
                "type": "merchantproducts",
                "id": "m1",
                "attributes": {"code": "HP-100", "name": "Наушники X"},
            }
        },
    )

    [line] = make_client().order_lines(order_id)

    assert line["sku"] == "HP-100" and line["name"] == "Наушники X"
    assert (line["quantity"], line["basePrice"], line["totalPrice"]) == (2, 11990.0, 23980.0)


@responses.activate
def test_accepting_posts_the_json_api_body_kaspi_documents(spec):
    wanted = spec("kaspi/status_update.request.json")
    echo = {"data": {**wanted["data"], "attributes": {"status": "ACCEPTED_BY_MERCHANT"}}}
    responses.post(f"{API}/orders", json=echo)

    answer = make_client().accept("MTQ1MjM0NTY3OA", "612345678")

    assert json.loads(responses.calls[0].request.body) == wanted
    assert answer["attributes"]["status"] == "ACCEPTED_BY_MERCHANT"


@responses.activate
def test_a_cancellation_carries_its_reason_and_an_unknown_reason_is_refused_before_sending():
    responses.post(f"{API}/orders", json={"data": {"type": "orders", "id": "x"}})
    client = make_client()

    client.cancel("x", "1", "MERCHANT_OUT_OF_STOCK")
    with pytest.raises(ValueError, match="cancellationReason"):
        client.cancel("x", "1", "BORED")

    [call] = responses.calls
    attributes = json.loads(call.request.body)["data"]["attributes"]
    assert attributes == {
        "code": "1",
        "status": "CANCELLED",
        "cancellationReason": "MERCHANT_OUT_OF_STOCK",
    }


@responses.activate
def test_completing_first_asks_kaspi_to_send_the_buyer_a_code():
    responses.post(f"{API}/orders", json={"data": {"type": "orders", "id": "x"}})

    make_client().complete("x", "1")

    headers = responses.calls[0].request.headers
    assert headers["X-Send-Code"] == "true" and headers["X-Security-Code"] == ""


@responses.activate
def test_a_401_is_an_auth_error_and_a_400_a_permanent_one_quoting_kaspi():
    responses.get(
        f"{API}/orders", status=401, json={"errors": [{"status": "401", "title": "Unauthorized"}]}
    )
    responses.post(
        f"{API}/orders",
        status=400,
        json={"errors": [{"status": "400", "title": "Bad Request", "detail": "cannot accept"}]},
    )
    client = make_client()

    with pytest.raises(AuthError):
        client.orders_page(T0, T0 + DAY, "NEW")
    with pytest.raises(PermanentError, match="cannot accept") as refused:
        client.accept("x", "1")
    assert refused.value.status == 400


@responses.activate
def test_a_5xx_is_retried_for_a_read_but_a_status_change_is_not_sent_twice():
    responses.get(f"{API}/orders", status=503, body="<html>busy</html>")
    responses.post(f"{API}/orders", status=502, body="")
    client = make_client()

    with pytest.raises(TransientError):
        client.orders_page(T0, T0 + DAY, "NEW")
    with pytest.raises(TransientError):
        client.accept("x", "1")

    methods = [c.request.method for c in responses.calls]
    assert methods == ["GET", "GET", "POST"]


def test_a_window_longer_than_kaspi_allows_is_never_sent():
    with pytest.raises(ValueError, match="14 days"):
        make_client().orders_page(T0, T0 + 14 * DAY, "NEW")


def test_a_client_without_a_token_names_the_setting():
    with pytest.raises(ConfigError, match="CONNECTOR_KASPI_TOKEN"):
        KaspiClient(None, "")


@responses.activate
def test_an_order_is_found_by_its_number_without_a_window():
    responses.get(
        re.compile(rf"{re.escape(API)}/orders.*"), json={"data": [{"id": "A"}], "meta": {}}
    )

    found = make_client().find_order("612345678")

    assert found == {"id": "A"}
    assert query(responses.calls[0])["filter[orders][code]"] == "612345678"
