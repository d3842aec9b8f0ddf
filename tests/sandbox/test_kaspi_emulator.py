"""The Kaspi.kz emulator refuses what Kaspi refuses (paging, window, state, token), pages like
Kaspi and enforces the status rules of accepting, cancelling and completing an order."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from connector_sandbox.kaspi import create_app

TOKEN = "emulator-test-token"
AUTH = {"X-Auth-Token": TOKEN, "Content-Type": "application/vnd.api+json"}
DAY = 86_400_000
T0 = 1_717_398_000_000


@pytest.fixture
def kaspi() -> FlaskClient:
    return create_app({"token": TOKEN}).test_client()


def place(kaspi: FlaskClient, **body: Any) -> dict[str, Any]:
    answer = kaspi.post("/_sandbox/orders", json={"creationDate": T0, **body})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def orders(kaspi: FlaskClient, **params: Any) -> Any:
    query = {
        "page[number]": 0,
        "page[size]": 20,
        "filter[orders][creationDate][$ge]": T0 - DAY,
        "filter[orders][creationDate][$le]": T0 + DAY,
        "filter[orders][state]": "NEW",
    }
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}
    return kaspi.get("/shop/api/v2/orders", query_string=query, headers=AUTH)


def change(kaspi: FlaskClient, order: dict, headers: Any = None, **attributes: Any) -> Any:
    body = {
        "data": {
            "type": "orders",
            "id": order["id"],
            "attributes": {"code": order["attributes"]["code"], **attributes},
        }
    }
    return kaspi.post("/shop/api/v2/orders", json=body, headers={**AUTH, **(headers or {})})


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"page[number]": None}, "page[number]"),
        ({"page[size]": None}, "page[size]"),
        ({"page[size]": 101}, "page[size]"),
        ({"filter[orders][creationDate][$ge]": None}, "creationDate"),
        ({"filter[orders][creationDate][$le]": T0 + 14 * DAY}, "14 days"),
        ({"filter[orders][state]": None}, "filter[orders][state]"),
    ],
)
def test_a_listing_without_what_kaspi_requires_is_a_400_naming_it(kaspi, missing, named):
    answer = orders(kaspi, **missing)

    assert answer.status_code == 400
    [error] = answer.get_json()["errors"]
    assert error["status"] == "400" and named in error["detail"]


def test_a_wrong_token_is_a_401_in_json_api_form(kaspi):
    answer = kaspi.get("/shop/api/v2/orders", headers={"X-Auth-Token": "nope"})

    assert answer.status_code == 401
    assert answer.get_json()["errors"][0]["status"] == "401"


def test_orders_are_paged_oldest_first_with_page_count_and_total(kaspi):
    codes = [place(kaspi, creationDate=T0 + i)["attributes"]["code"] for i in range(5)]
    place(kaspi, creationDate=T0 + 3 * DAY)  # outside the window

    first = orders(kaspi, **{"page[size]": 2}).get_json()
    last = orders(kaspi, **{"page[size]": 2, "page[number]": 2}).get_json()

    assert first["meta"] == {"pageCount": 3, "totalCount": 5}
    assert [o["attributes"]["code"] for o in first["data"]] == codes[:2]
    assert [o["attributes"]["code"] for o in last["data"]] == codes[4:]
    assert first["data"][0]["type"] == "orders"
    assert first["data"][0]["relationships"]["entries"]["links"]["related"].endswith("/entries")


def test_an_order_lines_lead_to_the_merchants_sku_in_two_more_calls(kaspi):
    order = place(
        kaspi, lines=[{"sku": "HP-100", "name": "Наушники", "quantity": 2, "price": 11990}]
    )

    [entry] = kaspi.get(f"/shop/api/v2/orders/{order['id']}/entries", headers=AUTH).get_json()[
        "data"
    ]
    product = kaspi.get(f"/shop/api/v2/orderentries/{entry['id']}/product", headers=AUTH)
    master_id = product.get_json()["data"]["id"]
    merchant = kaspi.get(f"/shop/api/v2/masterproducts/{master_id}/merchantProduct", headers=AUTH)

    assert entry["attributes"]["quantity"] == 2 and entry["attributes"]["totalPrice"] == 23980
    assert merchant.get_json()["data"]["attributes"]["code"] == "HP-100"


def test_a_new_order_is_accepted_once_and_leaves_the_new_state(kaspi):
    order = place(kaspi)

    accepted = change(kaspi, order, status="ACCEPTED_BY_MERCHANT")
    again = change(kaspi, order, status="ACCEPTED_BY_MERCHANT")

    assert accepted.status_code == 200
    assert accepted.get_json()["data"]["attributes"]["status"] == "ACCEPTED_BY_MERCHANT"
    assert again.status_code == 400
    assert orders(kaspi).get_json()["meta"]["totalCount"] == 0  # no longer NEW
    assert orders(kaspi, **{"filter[orders][state]": "DELIVERY"}).get_json()["data"]


def test_a_cancellation_needs_one_of_kaspis_reasons(kaspi):
    order = place(kaspi)

    refused = change(kaspi, order, status="CANCELLED", cancellationReason="BORED")
    done = change(
        kaspi, order, status="CANCELLED", cancellationReason="BUYER_CANCELLATION_BY_MERCHANT"
    )

    assert refused.status_code == 400 and "cancellationReason" in refused.get_data(as_text=True)
    assert done.get_json()["data"]["attributes"]["state"] == "ARCHIVE"
    assert change(kaspi, order, status="ACCEPTED_BY_MERCHANT").status_code == 400


def test_completing_takes_the_code_the_buyer_received(kaspi):
    order = place(kaspi)
    change(kaspi, order, status="ACCEPTED_BY_MERCHANT")
    send = {"X-Send-Code": "true", "X-Security-Code": ""}

    assert change(kaspi, order, send, status="COMPLETED").status_code == 200
    code = kaspi.get("/_sandbox/state").get_json()["security_codes"][order["attributes"]["code"]]
    wrong = change(kaspi, order, {**send, "X-Security-Code": "x"}, status="COMPLETED")
    right = change(kaspi, order, {**send, "X-Security-Code": code}, status="COMPLETED")

    assert wrong.status_code == 400
    assert right.get_json()["data"]["attributes"]["status"] == "COMPLETED"


def test_a_share_of_calls_fails_when_faults_are_on_and_control_calls_never(kaspi):
    place(kaspi)
    kaspi.put("/_sandbox/faults", json={"error_rate": 0.5, "seed": 3})

    statuses = [orders(kaspi).status_code for _ in range(40)]

    assert 5 < statuses.count(200) < 35
    assert {s for s in statuses if s != 200} <= {500, 502, 503}
    assert kaspi.get("/_sandbox/state").status_code == 200


def test_a_control_order_with_a_bad_line_is_a_400_not_a_500(kaspi):
    answer = kaspi.post("/_sandbox/orders", json={"lines": [{"sku": "A", "quantity": "two"}]})

    assert answer.status_code == 400
    assert "cannot place" in answer.get_json()["errors"][0]["detail"]
