"""Contract: the emulator accepts what the official examples send and answers in their shape."""

from __future__ import annotations

from typing import Any

from .conftest import Portal, spec

# keys that depend on the portal's own configuration (its user fields, relations), not on the API
_PORTAL_SPECIFIC = ("UF_CRM_", "PARENT_ID_", "ufCrm", "parentId")


def _same_type(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return True
    if isinstance(expected, bool):
        return isinstance(actual, bool)
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and not isinstance(actual, bool)
    return type(expected) is type(actual)


def assert_shape(expected: dict[str, Any], actual: dict[str, Any], where: str = "") -> None:
    """Every documented key is there with the documented JSON type (portal-specific keys aside)."""
    for key, value in expected.items():
        if key.startswith(_PORTAL_SPECIFIC):
            continue
        assert key in actual, f"{where}{key} missing"
        assert _same_type(value, actual[key]), f"{where}{key}: {value!r} vs {actual[key]!r}"
        if isinstance(value, dict) and isinstance(actual[key], dict):
            assert_shape(value, actual[key], f"{where}{key}.")


def test_time_block_has_every_documented_key(portal: Portal) -> None:
    body = portal.call("crm.contact.add", {"fields": {"NAME": "Anna"}})
    assert_shape(spec("responses/time.full.json")["time"], body["time"])
    assert body["time"]["date_start"].endswith("+03:00")


def test_contact_get_answers_the_documented_shape(portal: Portal) -> None:
    example = spec("responses/crm.contact.get.response.json")["result"]
    fields = {k: v for k, v in example.items() if not k.startswith(("ID", "PHONE", "EMAIL"))}
    fields["PHONE"] = [
        {"VALUE": p["VALUE"], "VALUE_TYPE": p["VALUE_TYPE"]} for p in example["PHONE"]
    ]
    fields["EMAIL"] = [
        {"VALUE": e["VALUE"], "VALUE_TYPE": e["VALUE_TYPE"]} for e in example["EMAIL"]
    ]
    contact_id = portal.result("crm.contact.add", {"fields": fields})
    assert isinstance(contact_id, int)
    got = portal.result("crm.contact.get", {"id": contact_id})
    assert_shape(example, got)
    assert got["ID"] == str(contact_id)
    assert [p["VALUE"] for p in got["PHONE"]] == ["+13333333555", "+15599888666"]
    assert set(got["PHONE"][0]) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}
    assert got["EMAIL"][0]["TYPE_ID"] == "EMAIL" and got["EMAIL"][0]["ID"].isdigit()
    assert got["HAS_PHONE"] == "Y" and got["UTM_SOURCE"] == "google"


def test_contact_list_answers_rows_total_and_selected_multifields(portal: Portal) -> None:
    example = spec("responses/crm.contact.list.response.json")
    for row in example["result"]:
        portal.result(
            "crm.contact.add",
            {"fields": {"NAME": row["NAME"], "LAST_NAME": row["LAST_NAME"], "EMAIL": row["EMAIL"]}},
        )
    select = ["ID", "NAME", "LAST_NAME", "EXPORT", "ASSIGNED_BY_ID", "DATE_CREATE", "EMAIL"]
    body = portal.call("crm.contact.list", {"select": select, "order": {"LAST_NAME": "ASC"}})
    assert body["total"] == example["total"] and "next" not in body
    for expected, got in zip(example["result"], body["result"], strict=True):
        assert set(got) == set(expected)
        assert_shape(expected, got)


def test_deal_add_get_and_list_answer_the_documented_shapes(portal: Portal) -> None:
    example = spec("responses/crm.deal.get.response.json")["result"]
    writable = {
        k: v
        for k, v in example.items()
        if k in {"TITLE", "TYPE_ID", "STAGE_ID", "CURRENCY_ID", "OPPORTUNITY", "COMMENTS"}
    }
    added = portal.call("crm.deal.add", {"fields": writable})
    assert_shape(spec("responses/crm.deal.add.response.json"), added)
    got = portal.result("crm.deal.get", {"id": added["result"]})
    assert_shape(example, got)
    assert got["OPPORTUNITY"] == "1000000.00" and got["CATEGORY_ID"] == "0"
    assert got["STAGE_SEMANTIC_ID"] == "P" and got["CLOSED"] == "N"
    listed = portal.call("crm.deal.list", {"select": ["ID", "TITLE", "OPPORTUNITY"]})
    list_example = spec("responses/crm.deal.list.response.json")
    assert_shape({k: v for k, v in list_example.items() if k != "result"}, listed)
    assert listed["result"][0] == {
        "ID": got["ID"],
        "TITLE": "New Deal #1",
        "OPPORTUNITY": "1000000.00",
    }


def test_update_answers_true(portal: Portal) -> None:
    contact_id = portal.result("crm.contact.add", {"fields": {"NAME": "Anna"}})
    body = portal.call("crm.contact.update", {"id": contact_id, "fields": {"NAME": "Anne"}})
    assert_shape(spec("responses/crm.contact.update.response.json"), body)
    assert body["result"] is True


def test_crm_item_get_and_list_use_camel_case_and_numbers(portal: Portal) -> None:
    portal.result("crm.contact.userfield.add", {"fields": {"FIELD_NAME": "1720019876534"}})
    created = portal.result(
        "crm.item.add",
        {
            "entityTypeId": 3,
            "fields": {
                "name": "Klaus",
                "lastName": "Weber",
                "ufCrm_1720019876534": "321",
                "fm": [
                    {"valueType": "WORK", "value": "work_email@nomail.com", "typeId": "EMAIL"},
                    {"valueType": "MOBILE", "value": "+493076543210", "typeId": "PHONE"},
                ],
            },
        },
    )["item"]
    example_add = spec("responses/crm.item.add.contact-with-fm.response.json")["result"]["item"]
    assert_shape(example_add, created)
    assert isinstance(created["id"], int) and created["hasPhone"] == "Y"
    assert created["ufCrm_1720019876534"] == "321"
    assert {f["typeId"] for f in created["fm"]} == {"EMAIL", "PHONE"}
    got = portal.call("crm.item.get", {"entityTypeId": 3, "id": created["id"]})
    example_get = spec("responses/crm.item.get.response.json")
    shared = {k: v for k, v in example_get["result"]["item"].items() if k in got["result"]["item"]}
    assert len(shared) > 20
    assert_shape({"result": {"item": shared}, "time": example_get["time"]}, got)
    listed = portal.call("crm.item.list", {"entityTypeId": 3, "select": ["id", "name", "lastName"]})
    example_list = spec("responses/crm.item.list.response.json")
    assert_shape({k: v for k, v in example_list.items() if k != "result"}, listed)
    assert listed["result"]["items"] == [
        {"id": created["id"], "name": "Klaus", "lastName": "Weber"}
    ]


def test_product_rows_set_and_get_answer_the_documented_shape(portal: Portal) -> None:
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "Order 1"}})
    example = spec("responses/crm.deal.productrows.get.response.json")["result"]
    rows = [
        {
            k: row[k]
            for k in (
                "PRODUCT_ID",
                "PRODUCT_NAME",
                "PRICE",
                "QUANTITY",
                "DISCOUNT_TYPE_ID",
                "DISCOUNT_RATE",
                "MEASURE_CODE",
                "SORT",
                "XML_ID",
            )
        }
        for row in example
    ]
    body = portal.call("crm.deal.productrows.set", {"id": deal_id, "rows": rows})
    assert_shape(spec("responses/crm.deal.productrows.set.response.json"), body)
    got = portal.result("crm.deal.productrows.get", {"id": deal_id})
    assert len(got) == 2
    first = next(r for r in got if r["PRODUCT_ID"] == 450)
    assert_shape(example[0], first)
    assert first["PRICE_NETTO"] == 999 and first["DISCOUNT_SUM"] == 99.9
    assert first["PRICE_ACCOUNT"] == "899.10" and first["OWNER_TYPE"] == "D"
    deal = portal.result("crm.deal.get", {"id": deal_id})
    assert deal["OPPORTUNITY"] == "999.10"


def test_product_rows_refuse_a_full_discount_without_its_sum(portal: Portal) -> None:
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "Order 1"}})
    rows = [{"PRODUCT_NAME": "Gift", "PRICE": 0, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 100}]
    body = portal.call("crm.deal.productrows.set", {"id": deal_id, "rows": rows}, status=400)
    assert body == spec("errors/crm.deal.productrows.set.ERROR_CORE.400.json")


def test_duplicate_search_answers_ids_or_an_empty_array(portal: Portal) -> None:
    first = portal.result("crm.contact.add", {"fields": {"PHONE": [{"VALUE": "+79001112233"}]}})
    second = portal.result("crm.contact.add", {"fields": {"PHONE": [{"VALUE": "+79001112233"}]}})
    found = portal.call("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+79001112233"]})
    assert_shape(spec("responses/crm.duplicate.findbycomm.response.json"), found)
    assert found["result"] == {"CONTACT": [first, second]}
    none = portal.call("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["x@example.com"]})
    assert (
        none["result"] == spec("responses/crm.duplicate.findbycomm.empty.response.json")["result"]
    )
    refused = portal.call("crm.duplicate.findbycomm", {"values": ["1"]}, status=400)
    assert refused == spec("errors/crm.duplicate.findbycomm.400.json")


def test_deal_stages_are_the_documented_default_funnel(portal: Portal) -> None:
    body = portal.call("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})
    example = spec("responses/crm.status.list.DEAL_STAGE.response.json")
    assert body["total"] == example["total"]
    assert [s["STATUS_ID"] for s in body["result"]] == [s["STATUS_ID"] for s in example["result"]]
    for expected, got in zip(example["result"], body["result"], strict=True):
        assert_shape(expected, got)
        assert got["SEMANTICS"] == expected["SEMANTICS"]
    assert portal.call("crm.status.list", {"filter": "x"}, status=400) == spec(
        "errors/crm.status.list.400.json"
    )


def test_timeline_comment_and_userfield_answer_their_ids(portal: Portal) -> None:
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "Order"}})
    comment = portal.call(
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal", "COMMENT": "Synced from shop"}},
    )
    assert_shape(spec("responses/crm.timeline.comment.add.response.json"), comment)
    field = portal.call(
        "crm.contact.userfield.add",
        {"fields": {"FIELD_NAME": "LOYALTY_ID", "USER_TYPE_ID": "string"}},
    )
    assert_shape(spec("responses/crm.contact.userfield.add.response.json"), field)
    listed = portal.result(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_LOYALTY_ID"}}
    )
    assert [f["ID"] for f in listed] == [str(field["result"])]


def test_legacy_refusals_have_an_empty_code(portal: Portal) -> None:
    assert portal.call("crm.contact.get", {"id": "abc"}, status=400) == spec(
        "errors/crm.contact.get.400.empty-code.json"
    )
    assert portal.call(
        "crm.contact.update", {"id": 999, "fields": {"NAME": "x"}}, status=400
    ) == spec("errors/crm.contact.update.400.not-found.json")
    assert portal.call("crm.item.get", {"entityTypeId": 3, "id": 999}, status=400) == spec(
        "errors/crm.item.get.NOT_FOUND.json"
    )
    assert portal.call(
        "crm.item.list", {"entityTypeId": 3, "filter": {"FIELD": 1}}, status=400
    ) == spec("errors/crm.item.list.INVALID_ARG_VALUE.400.json")


def test_wrong_webhook_token_is_refused_like_the_portal(portal: Portal) -> None:
    response = portal.client.post("/rest/1/wrongtoken/crm.contact.list.json", json={})
    assert response.status_code == 401
    assert response.get_json() == spec("errors/error.NO_AUTH_FOUND.401.json")


def test_missing_scope_is_refused(clock) -> None:
    from connector_sandbox.bitrix24 import Bitrix24Config, create_app

    app = create_app(Bitrix24Config(clock=clock, scopes=("user",)))
    response = app.test_client().post("/rest/1/sandboxtoken/crm.contact.list", json={})
    assert response.status_code == 403
    assert response.get_json() == spec("errors/error.insufficient_scope.403.json")


def test_unknown_method_is_refused(portal: Portal) -> None:
    body = portal.call("crm.nothing.here", status=404)
    assert body == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
