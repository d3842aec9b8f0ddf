"""Open Loyalty: the documented form requests work; answers have the documented keys."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from connector_sandbox.openloyalty import create_app
from tests.sandbox.conftest import spec_json, spec_text

FORM = "application/x-www-form-urlencoded"
AUTH = {"Authorization": "Bearer sandbox-openloyalty-api-token"}
DOC_CUSTOMER = "b9af6a8c-9cc5-4924-989c-e4af614ab2a3"


@pytest.fixture
def ol() -> FlaskClient:
    return create_app().test_client()


def post(ol: FlaskClient, path: str, form: str):
    return ol.post(path, data=form, content_type=FORM, headers=AUTH)


def register(ol: FlaskClient, email: str = "tomasztest8@wp.pl") -> str:
    form = (
        f"customer[firstName]=Jan&customer[lastName]=Nowak&customer[email]={email}"
        "&customer[phone]=00000000000000&customer[loyaltyCardNumber]=11111111111"
    )
    answer = post(ol, "/api/customer/register", form)
    assert answer.status_code == 200
    return answer.get_json()["customerId"]


def test_auth_by_api_token_or_login(ol: FlaskClient) -> None:
    assert ol.get("/api/customer").status_code == 401
    login = ol.post("/api/admin/login_check", json={"_username": "admin", "_password": "open"})
    token = login.get_json()["token"]
    assert ol.get("/api/customer", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert (
        ol.get("/api/customer", headers={"X-AUTH-TOKEN": AUTH["Authorization"][7:]}).status_code
        == 200
    )


def test_customers_register_search_and_stay_unique(ol: FlaskClient) -> None:
    customer_id = register(ol)
    found = ol.get("/api/customer?email=tomasztest8@wp.pl&strict=1", headers=AUTH).get_json()
    documented = spec_json("loyalty/openloyalty/customers.list.response.json")
    assert set(found) == set(documented) and found["total"] == 1
    assert set(documented["customers"][0]) - {"address", "lastTransactionDate"} <= set(
        found["customers"][0]
    )
    again = post(
        ol,
        "/api/customer/register",
        "customer[firstName]=A&customer[lastName]=B&customer[email]=tomasztest8@wp.pl",
    )
    assert again.status_code == 400 and "email" in again.get_json()["errors"]["children"]
    update = ol.put(
        f"/api/customer/{customer_id}", data="customer[phone]=123", content_type=FORM, headers=AUTH
    )
    assert update.status_code == 200
    assert ol.get(f"/api/customer/{customer_id}", headers=AUTH).get_json()["phone"] == "123"


def test_documented_points_transfers_with_client_chosen_ids(ol: FlaskClient) -> None:
    customer_id = register(ol)
    add = spec_text("loyalty/openloyalty/points.transfer.add.request.form.txt")
    added = post(ol, "/api/points/transfer/add", add.replace(DOC_CUSTOMER, customer_id))
    assert set(added.get_json()) == set(
        spec_json("loyalty/openloyalty/points.transfer.add.response.json")
    )
    assert added.get_json()["pointsTransferId"] == "8947546c-c2a4-4ef2-9271-47b3fc28f663"
    replay = post(ol, "/api/points/transfer/add", add.replace(DOC_CUSTOMER, customer_id))
    assert replay.status_code == 400  # the client-chosen id makes a replay harmless
    spend = spec_text("loyalty/openloyalty/points.transfer.spend.request.form.txt")
    spend = spend.replace(DOC_CUSTOMER, customer_id).replace(
        "transfer=8947546c", "transfer=9947546c"
    )
    assert post(ol, "/api/points/transfer/spend", spend).status_code == 200
    too_much = f"transfer[customer]={customer_id}&transfer[points]=100"
    assert post(ol, "/api/points/transfer/spend", too_much).status_code == 400
    status = ol.get(f"/api/customer/{customer_id}/status", headers=AUTH).get_json()
    assert status["points"] == 8 and status["usedPoints"] == 1 and status["totalEarnedPoints"] == 9
    listed = ol.get(f"/api/points/transfer?customerId={customer_id}", headers=AUTH).get_json()
    documented = spec_json("loyalty/openloyalty/points.transfer.list.response.json")
    assert set(listed) == set(documented) and listed["total"] == 2
    documented_keys = set(documented["transfers"][0])
    adding = next(t for t in listed["transfers"] if t["type"] == "adding")
    assert documented_keys <= set(adding)
    cancel = ol.post(
        "/api/points/transfer/8947546c-c2a4-4ef2-9271-47b3fc28f663/cancel", headers=AUTH
    )
    assert cancel.status_code == 204


def test_transactions_earn_return_and_simulate(ol: FlaskClient) -> None:
    customer_id = register(ol)
    form = spec_text("loyalty/openloyalty/transaction.register.request.form.txt")
    sell = form.replace("documentType]=return", "documentType]=sell")
    made = post(ol, "/api/transaction", sell)
    assert set(made.get_json()) == set(
        spec_json("loyalty/openloyalty/transaction.register.response.json")
    )
    transaction = ol.get(f"/api/transaction/{made.get_json()['transactionId']}", headers=AUTH)
    body = transaction.get_json()
    assert set(spec_json("loyalty/openloyalty/transaction.get.response.json")) <= set(body)
    assert body["customerId"] == customer_id and body["pointsEarned"] == 3450
    partial_return = form.replace("grossValue]=1500.00", "grossValue]=750")
    assert post(ol, "/api/transaction", partial_return).status_code == 200
    status = ol.get(f"/api/customer/{customer_id}/status", headers=AUTH).get_json()
    assert status["points"] == 1725
    orphan = form.replace("documentNumber]=214124124125", "documentNumber]=999")
    assert post(ol, "/api/transaction", orphan).status_code == 400
    simulate = spec_text("loyalty/openloyalty/transaction.simulate.request.form.txt")
    simulated = post(ol, "/api/transaction/simulate", simulate).get_json()
    assert simulated == spec_json("loyalty/openloyalty/transaction.simulate.response.json")


def test_locked_points_unlock_and_expire_when_the_clock_moves() -> None:
    ol = create_app({"points_days_locked": 14, "expire_days": 30}).test_client()
    customer_id = register(ol)
    form = spec_text("loyalty/openloyalty/transaction.register.request.form.txt")
    post(ol, "/api/transaction", form.replace("documentType]=return", "documentType]=sell"))
    status = ol.get(f"/api/customer/{customer_id}/status", headers=AUTH).get_json()
    assert status["points"] == 0 and status["lockedPoints"] == 3450
    pending = ol.get("/api/points/transfer?state=pending", headers=AUTH).get_json()
    assert pending["total"] == 1 and "lockedUntil" in pending["transfers"][0]
    assert ol.post("/_sandbox/clock/advance", json={"days": 15}).get_json()["unlocked"] == 1
    status = ol.get(f"/api/customer/{customer_id}/status", headers=AUTH).get_json()
    assert status["points"] == 3450 and status["lockedPoints"] == 0
    assert ol.post("/_sandbox/clock/advance", json={"days": 30}).get_json()["expired"] == 1
    status = ol.get(f"/api/customer/{customer_id}/status", headers=AUTH).get_json()
    assert status["points"] == 0 and status["expiredPoints"] == 3450
