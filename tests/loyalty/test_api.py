"""The checkout API: what the shop and POS see when they look up, hold, confirm and release."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy import insert

from connector.app import create_app
from connector.services import Services
from connector.store.tables import identity_keys
from tests.support import make_settings

TOKEN = "checkout-secret-token"
SPEC = yaml.safe_load(
    (Path(__file__).parents[2] / "docs" / "loyalty-openapi.yaml").read_text(encoding="utf-8")
)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api_services(tmp_path: Path, store_url: str):
    built = Services(make_settings(tmp_path, database_url=store_url, admin_token=TOKEN))
    yield built
    built.close()


@pytest.fixture
def client(api_services: Services):
    return create_app(api_services).test_client()


@pytest.fixture
def olena(api_services: Services) -> str:
    """A customer with 500 available bonuses, card 7700123 and a phone in identity_keys."""
    from connector.loyalty.tasks import provider_for

    ledger = provider_for(api_services)
    ledger.open_account("cust-olena", card="7700123")
    ledger.accrue("cust-olena", "pos-receipt-1", Decimal(500))
    with api_services.engine.begin() as connection:
        connection.execute(
            insert(identity_keys).values(
                kind="phone", value="+380671234567", canonical_id="cust-olena"
            )
        )
    return "cust-olena"


def _openapi_to_jsonschema(schema: Any) -> Any:
    """Resolves refs and turns OpenAPI 3.0 `nullable` into JSON Schema."""
    if isinstance(schema, list):
        return [_openapi_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _openapi_to_jsonschema(SPEC["components"]["schemas"][name])
    result = {
        k: _openapi_to_jsonschema(v)
        for k, v in schema.items()
        if k not in ("nullable", "example", "exclusiveMinimum")
    }
    if schema.get("nullable"):
        result["type"] = [schema["type"], "null"]
    return result


def conforms(path: str, method: str, status: int, body: Any) -> None:
    response = SPEC["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    jsonschema.validate(body, _openapi_to_jsonschema(schema))


def test_routes_match_the_openapi_file(api_services: Services) -> None:
    app = create_app(api_services)
    served = {
        (rule.rule.replace("<", "{").replace(">", "}"), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/loyalty")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in SPEC["paths"].items() for method in item}
    assert served == documented


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
)
def test_without_the_token_nothing_is_answered_but_401(client, olena, headers) -> None:
    response = client.get("/api/loyalty/balance?card=7700123", headers=headers)
    assert response.status_code == 401
    conforms("/api/loyalty/balance", "get", 401, response.get_json())


def test_no_admin_token_configured_means_the_api_is_closed(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    try:
        response = (
            create_app(services)
            .test_client()
            .get("/api/loyalty/balance?card=1", headers={"Authorization": "Bearer "})
        )
        assert response.status_code == 401
    finally:
        services.close()


def test_balance_by_card_and_by_phone(client, olena) -> None:
    by_card = client.get("/api/loyalty/balance?card=7700123", headers=AUTH)
    assert by_card.status_code == 200
    assert by_card.get_json()["available"] == "500.00"
    assert by_card.get_json()["customer_id"] == olena
    conforms("/api/loyalty/balance", "get", 200, by_card.get_json())
    by_phone = client.get(
        "/api/loyalty/balance", query_string={"phone": "+380671234567"}, headers=AUTH
    )
    assert by_phone.get_json()["card_number"] == "7700123"


def test_unknown_card_is_404_and_no_key_is_400(client, olena) -> None:
    assert client.get("/api/loyalty/balance?card=999", headers=AUTH).status_code == 404
    response = client.get("/api/loyalty/balance", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["field"] == "card"


def test_hold_then_confirm_spends_the_bonuses(client, olena, api_services) -> None:
    held = client.post(
        "/api/loyalty/holds",
        json={"card": "7700123", "order_id": "woo:727", "amount": "120", "order_total": 1000},
        headers=AUTH,
    )
    assert held.status_code == 201, held.get_json()
    conforms("/api/loyalty/holds", "post", 201, held.get_json())
    assert (held.get_json()["available"], held.get_json()["held"]) == ("380.00", "120.00")
    confirmed = client.post("/api/loyalty/holds/woo:727/confirm", headers=AUTH)
    assert confirmed.status_code == 200
    conforms("/api/loyalty/holds/{order_id}/confirm", "post", 200, confirmed.get_json())
    assert (confirmed.get_json()["available"], confirmed.get_json()["held"]) == ("380.00", "0.00")


def test_release_gives_the_hold_back_and_can_be_repeated(client, olena) -> None:
    client.post(
        "/api/loyalty/holds",
        json={"customer_id": olena, "order_id": "pos:1", "amount": 50},
        headers=AUTH,
    )
    for _ in range(2):
        released = client.post("/api/loyalty/holds/pos:1/release", headers=AUTH)
        assert released.status_code == 200
        assert released.get_json()["available"] == "500.00"


def test_partial_confirm_spends_part_and_returns_the_rest(client, olena) -> None:
    client.post(
        "/api/loyalty/holds",
        json={"card": "7700123", "order_id": "o-9", "amount": 100},
        headers=AUTH,
    )
    response = client.post("/api/loyalty/holds/o-9/confirm", json={"amount": "40"}, headers=AUTH)
    assert response.get_json()["available"] == "460.00"


def test_holding_more_than_the_balance_is_409(client, olena) -> None:
    response = client.post(
        "/api/loyalty/holds",
        json={"card": "7700123", "order_id": "o-1", "amount": "500.01"},
        headers=AUTH,
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "insufficient_balance"
    assert response.get_json()["available"] == "500.00"
    conforms("/api/loyalty/holds", "post", 409, response.get_json())


def test_over_the_payable_share_is_refused(client, olena) -> None:
    response = client.post(
        "/api/loyalty/holds",
        json={"card": "7700123", "order_id": "o-2", "amount": 301, "order_total": 1000},
        headers=AUTH,
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "over_share"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"card": "7700123", "amount": 10}, "order_id"),
        ({"card": "7700123", "order_id": "o"}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": "ten"}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": -5}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": "1.001"}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": True}, "amount"),
        ({"order_id": "o", "amount": 10}, "card"),
        ({"card": "7700123", "order_id": "o", "amount": 10, "order_total": "x"}, "order_total"),
        ({"card": "7700123", "order_id": "o", "amount": "1e26"}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": 1e30}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": "1e999999999"}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": "NaN"}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": "-Infinity"}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": [10]}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": {"value": 10}}, "amount"),
        ({"card": "7700123", "order_id": "o", "amount": 10, "order_total": "1e30"}, "order_total"),
        ({"card": ["7700123"], "order_id": "o", "amount": 10}, "card"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(client, olena, body, field) -> None:
    response = client.post("/api/loyalty/holds", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    conforms("/api/loyalty/holds", "post", 400, response.get_json())


def test_a_body_that_is_not_json_is_400(client, olena) -> None:
    response = client.post("/api/loyalty/holds", data="amount=5", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["field"] == "body"


def test_confirming_an_unknown_hold_is_404(client, olena) -> None:
    response = client.post("/api/loyalty/holds/nope/confirm", headers=AUTH)
    assert response.status_code == 404
    conforms("/api/loyalty/holds/{order_id}/confirm", "post", 404, response.get_json())


@pytest.mark.parametrize("amount", ["1e30", "1e26", 1e300, "1000000000.01", "NaN", "0"])
def test_confirming_an_amount_out_of_range_is_400_naming_it(client, olena, amount) -> None:
    client.post(
        "/api/loyalty/holds",
        json={"card": "7700123", "order_id": "o-7", "amount": 100},
        headers=AUTH,
    )
    response = client.post("/api/loyalty/holds/o-7/confirm", json={"amount": amount}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["field"] == "amount"
    conforms("/api/loyalty/holds/{order_id}/confirm", "post", 400, response.get_json())
    still_held = client.get("/api/loyalty/balance?card=7700123", headers=AUTH).get_json()
    assert still_held["held"] == "100.00"


def test_the_largest_amount_is_a_billion_points(client, olena) -> None:
    body = {"card": "7700123", "order_id": "o-8", "amount": "1000000000"}
    response = client.post("/api/loyalty/holds", json=body, headers=AUTH)
    assert response.status_code == 409  # in range, just more than Olena has
    response = client.post("/api/loyalty/holds", json={**body, "amount": "1e9"}, headers=AUTH)
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount":' * 1000 + b"1" + b"}" * 1000,
        b"[" * 1000 + b"]" * 1000,
        b'{"amount": NaN}',
        b"\xff\xfe",
    ],
    ids=["1,000 nested objects", "1,000 nested lists", "NaN is not JSON", "not UTF-8"],
)
def test_a_body_nested_too_deep_or_not_json_is_400_naming_the_body(client, olena, body) -> None:
    for path in ("/api/loyalty/holds", "/api/loyalty/holds/o-1/confirm"):
        response = client.post(path, data=body, headers=AUTH, content_type="application/json")
        assert response.status_code == 400
        assert response.get_json()["field"] == "body"
