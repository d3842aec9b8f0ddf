"""CDEK and Nova Poshta accept the documented requests and answer in the documented shape."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector_sandbox.cdek import create_app as create_cdek
from connector_sandbox.novaposhta import create_app as create_novaposhta
from connector_sandbox.sink import WebhookSink
from tests.sandbox.conftest import spec_json, spec_text

CDEK_FORM = "application/x-www-form-urlencoded"
NP_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def cdek_app() -> Flask:
    return create_cdek({"client_id": "YOUR_ACCOUNT", "client_secret": "YOUR_SECURE_PASSWORD"})


@pytest.fixture
def cdek(cdek_app: Flask) -> FlaskClient:
    return cdek_app.test_client()


def bearer(cdek: FlaskClient) -> dict[str, str]:
    form = spec_text("delivery/cdek/oauth.token.request.form.txt")
    token = cdek.post("/v2/oauth/token", data=form, content_type=CDEK_FORM).get_json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_oauth_token_from_the_documented_form_and_from_the_query(cdek: FlaskClient) -> None:
    form = spec_text("delivery/cdek/oauth.token.request.form.txt")
    answer = cdek.post("/v2/oauth/token", data=form, content_type=CDEK_FORM)
    assert answer.status_code == 200
    documented = spec_json("delivery/cdek/oauth.token.response.json")
    assert set(answer.get_json()) == set(documented)
    assert answer.get_json()["expires_in"] == 3599
    query = (
        "grant_type=client_credentials&client_id=YOUR_ACCOUNT&client_secret=YOUR_SECURE_PASSWORD"
    )
    assert cdek.post(f"/v2/oauth/token?{query}").status_code == 200
    wrong = cdek.post("/v2/oauth/token?grant_type=client_credentials&client_id=a&client_secret=b")
    assert wrong.status_code == 401
    assert cdek.get("/v2/webhooks").status_code == 401
    assert cdek.get("/v2/webhooks", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_order_registration_is_asynchronous_like_cdek(cdek: FlaskClient) -> None:
    auth = bearer(cdek)
    request = spec_json("delivery/cdek/order.create.request.json")
    created = cdek.post("/v2/orders", json=request, headers=auth)
    assert created.status_code == 202
    body = created.get_json()
    documented = spec_json("delivery/cdek/order.create.response.json")
    assert set(body) == set(documented)
    assert set(body["requests"][0]) == set(documented["requests"][0])
    assert body["requests"][0]["state"] == "ACCEPTED" and body["requests"][0]["type"] == "CREATE"
    uuid = body["entity"]["uuid"]
    processed = cdek.post(f"/_sandbox/orders/{uuid}/process").get_json()
    entity = processed["entity"]
    wanted = set(spec_json("delivery/cdek/order.get.response.json")["entity"])
    assert wanted <= set(entity)
    assert entity["number"] == request["number"] and entity["cdek_number"]
    assert [s["code"] for s in entity["statuses"]] == ["CREATED", "ACCEPTED"]
    assert processed["requests"][0]["state"] == "SUCCESSFUL"
    by_number = cdek.get(f"/v2/orders?im_number={request['number']}", headers=auth).get_json()
    assert by_number["entity"]["uuid"] == uuid
    by_cdek = cdek.get(f"/v2/orders?cdek_number={entity['cdek_number']}", headers=auth)
    assert by_cdek.get_json()["entity"]["uuid"] == uuid
    twice = cdek.post("/v2/orders", json=request, headers=auth)
    assert twice.status_code == 400


def test_missing_orders_and_fields_answer_cdek_errors(cdek: FlaskClient) -> None:
    auth = bearer(cdek)
    missing = cdek.get("/v2/orders?im_number=nothing", headers=auth)
    assert missing.status_code == 404
    error = missing.get_json()["requests"][0]
    assert error["state"] == "INVALID" and error["errors"][0]["code"] == "v2_entity_not_found"
    empty = cdek.post("/v2/orders", json={"number": "x"}, headers=auth)
    assert empty.status_code == 400
    assert empty.get_json()["requests"][0]["errors"][0]["code"] == "v2_field_is_empty"


def test_status_moves_send_order_status_webhooks_unsigned_and_once(
    cdek: FlaskClient, webhook_sink: WebhookSink
) -> None:
    auth = bearer(cdek)
    subscription = spec_json("delivery/cdek/webhooks.subscribe.request.json")
    subscription["url"] = webhook_sink.url + "/old"
    cdek.post("/v2/webhooks", json=subscription, headers=auth)
    subscription["url"] = webhook_sink.url + "/hooks/cdek"
    answer = cdek.post("/v2/webhooks", json=subscription, headers=auth).get_json()
    assert answer["requests"][0]["state"] == "SUCCESSFUL"
    hooks = cdek.get("/v2/webhooks", headers=auth).get_json()
    assert [h["url"] for h in hooks] == [webhook_sink.url + "/hooks/cdek"]  # one per type
    order = cdek.post(
        "/v2/orders", json=spec_json("delivery/cdek/order.create.request.json"), headers=auth
    ).get_json()
    uuid = order["entity"]["uuid"]
    cdek.post(f"/_sandbox/orders/{uuid}/process")
    webhook_sink.clear()
    webhook_sink.status = 500
    moved = cdek.post(
        f"/_sandbox/orders/{uuid}/status", json={"to": "DELIVERED", "city": "Новосибирск"}
    )
    assert moved.status_code == 200
    received = webhook_sink.wait_for(7, "/hooks/cdek")
    codes = [json.loads(r.body)["attributes"]["code"] for r in received]
    assert codes[-1] == "DELIVERED" and codes[0] == "RECEIVED_AT_SHIPMENT_WAREHOUSE"
    assert len(codes) == 7  # failed deliveries are never sent again
    last = json.loads(received[-1].body)
    documented = spec_json("delivery/cdek/webhook.ORDER_STATUS.json")
    assert set(last) == set(documented)
    assert set(last["attributes"]) == set(documented["attributes"])
    assert last["uuid"] == uuid and last["attributes"]["status_code"] == "4"
    assert last["attributes"]["number"] == "ddOererre7450813980068"
    assert not any("signature" in h.lower() for h in received[-1].headers)
    failed = cdek.post(f"/_sandbox/orders/{uuid}/status", json={"code": "NOT_DELIVERED"})
    assert failed.get_json()["added"][0]["name"] == "Не вручен"
    statuses = cdek.get(f"/v2/orders/{uuid}", headers=auth).get_json()["entity"]["statuses"]
    assert statuses[0]["code"] == "NOT_DELIVERED"


@pytest.fixture
def novaposhta() -> FlaskClient:
    return create_novaposhta({"api_key": NP_KEY}).test_client()


def track(client: FlaskClient, documents: list[dict[str, str]]) -> dict:
    request = spec_json("delivery/novaposhta/getStatusDocuments.request.json")
    request["apiKey"] = NP_KEY
    request["methodProperties"]["Documents"] = documents
    answer = client.post("/v2.0/json/", json=request)
    assert answer.status_code == 200
    return answer.get_json()


def test_tracking_answers_the_documented_envelope_and_fields(novaposhta: FlaskClient) -> None:
    made = novaposhta.post(
        "/_sandbox/parcels", json={"number": "59000777777777", "phone": "380601111111"}
    )
    assert made.status_code == 201
    novaposhta.post("/_sandbox/parcels/59000777777777/status", json={"status_codes": [4, 5, 7, 9]})
    documented = spec_json("delivery/novaposhta/getStatusDocuments.response.json")
    full = track(novaposhta, [{"DocumentNumber": "59000777777777", "Phone": "380601111111"}])
    assert set(full) == set(documented) and full["success"] is True
    item = full["data"][0]
    assert set(item) == set(documented["data"][0])
    assert item["StatusCode"] == "9" and item["Status"] == "Відправлення отримано"
    assert item["PhoneRecipient"] == "380601111111" and item["ActualDeliveryDate"]
    assert full["warnings"] == []
    bare = track(novaposhta, [{"DocumentNumber": "59000777777777", "Phone": ""}])
    documented_bare = spec_json(
        "delivery/novaposhta/getStatusDocuments.response.without-phone.json"
    )
    assert bare["data"][0]["PhoneRecipient"] == "" and bare["data"][0]["RecipientFullName"] == ""
    assert list(bare["warnings"][0]) == ["ID_59000777777777"]
    assert bare["warnings"][0]["ID_59000777777777"] == next(
        iter(documented_bare["warnings"][0].values())
    )


def test_the_documented_request_and_errors(novaposhta: FlaskClient) -> None:
    request = spec_json("delivery/novaposhta/getStatusDocuments.request.json")
    request["apiKey"] = NP_KEY
    unknown = novaposhta.post("/v2.0/json/", json=request).get_json()
    assert [d["StatusCode"] for d in unknown["data"]] == ["3", "3"]
    invalid = track(novaposhta, [{"DocumentNumber": "445", "Phone": ""}])
    assert invalid == spec_json("delivery/novaposhta/getStatusDocuments.error.invalid-number.json")
    too_many = track(novaposhta, [{"DocumentNumber": "20400048799000"}] * 101)
    assert too_many["success"] is False
    request["apiKey"] = "wrong"
    refused = novaposhta.post("/v2.0/json/", json=request).get_json()
    assert refused["success"] is False and refused["errors"]


def test_a_waybill_is_created_and_then_tracked(novaposhta: FlaskClient) -> None:
    body = {
        "apiKey": NP_KEY,
        "modelName": "InternetDocument",
        "calledMethod": "save",
        "methodProperties": {
            "PayerType": "Recipient",
            "PaymentMethod": "Cash",
            "CargoType": "Parcel",
            "Weight": "0.5",
            "ServiceType": "WarehouseWarehouse",
            "SeatsAmount": "1",
            "Description": "Order 727",
            "Cost": "500",
            "RecipientsPhone": "380991234567",
        },
    }
    saved = novaposhta.post("/v2.0/json/", json=body).get_json()
    assert saved["success"] is True
    waybill = saved["data"][0]
    assert set(waybill) == {
        "Ref",
        "CostOnSite",
        "EstimatedDeliveryDate",
        "IntDocNumber",
        "TypeDocument",
    }
    assert len(waybill["IntDocNumber"]) == 14
    tracked = track(
        novaposhta, [{"DocumentNumber": waybill["IntDocNumber"], "Phone": "380991234567"}]
    )
    assert tracked["data"][0]["StatusCode"] == "1" and tracked["data"][0]["RefEW"] == waybill["Ref"]
    novaposhta.post(
        f"/_sandbox/parcels/{waybill['IntDocNumber']}/status", json={"status_code": 103}
    )
    refused = track(novaposhta, [{"DocumentNumber": waybill["IntDocNumber"], "Phone": ""}])
    assert refused["data"][0]["StatusCode"] == "103"
