"""CRM behaviour: multifield updates, filters, order, select, paging, both method families."""

from __future__ import annotations

from typing import Any

from .conftest import FakeClock, Portal, spec


def _contact_with_phones(portal: Portal, *values: str) -> tuple[int, list[str]]:
    contact_id = portal.result(
        "crm.contact.add", {"fields": {"NAME": "Ivan", "PHONE": [{"VALUE": v} for v in values]}}
    )
    phones = portal.result("crm.contact.get", {"id": contact_id})["PHONE"]
    return contact_id, [p["ID"] for p in phones]


def _phones(portal: Portal, contact_id: int) -> list[dict[str, Any]]:
    return portal.result("crm.contact.get", {"id": contact_id}).get("PHONE", [])


def test_multifield_item_with_id_changes_that_value(portal: Portal) -> None:
    contact_id, ids = _contact_with_phones(portal, "111", "222")
    request = spec("requests/crm.contact.update.multifield-change.request.json")
    request["fields"]["PHONE"][0]["ID"] = ids[1]
    portal.result("crm.contact.update", {"id": contact_id, **request})
    phones = _phones(portal, contact_id)
    assert [(p["ID"], p["VALUE"], p["VALUE_TYPE"]) for p in phones] == [
        (ids[0], "111", "WORK"),
        (ids[1], "444444", "MOBILE"),
    ]


def test_multifield_item_without_id_adds_and_keeps_the_others(portal: Portal) -> None:
    contact_id, ids = _contact_with_phones(portal, "111")
    request = spec("requests/crm.contact.update.multifield-add.request.json")
    portal.result("crm.contact.update", {"id": contact_id, **request})
    phones = _phones(portal, contact_id)
    assert [p["VALUE"] for p in phones] == ["111", "55555"]
    assert phones[0]["ID"] == ids[0]


def test_multifield_delete_by_flag_by_empty_value_or_bare_id(portal: Portal) -> None:
    contact_id, ids = _contact_with_phones(portal, "111", "222", "333", "444")
    request = spec("requests/crm.contact.update.multifield-delete.request.json")
    for item, real_id in zip(request["fields"]["PHONE"], ids[:3], strict=True):
        item["ID"] = real_id
    portal.result("crm.contact.update", {"id": contact_id, **request})
    assert [p["VALUE"] for p in _phones(portal, contact_id)] == ["444"]
    contact = portal.result("crm.contact.get", {"id": contact_id})
    assert contact["HAS_PHONE"] == "Y"


def test_resending_a_phone_without_its_id_duplicates_it(portal: Portal) -> None:
    contact_id, _ = _contact_with_phones(portal, "111")
    portal.result("crm.contact.update", {"id": contact_id, "fields": {"PHONE": [{"VALUE": "111"}]}})
    assert [p["VALUE"] for p in _phones(portal, contact_id)] == ["111", "111"]


def test_form_encoded_php_brackets_are_read_as_nested_fields(portal: Portal) -> None:
    response = portal.client.post(
        "/rest/1/sandboxtoken/crm.contact.add",
        data={
            "fields[NAME]": "Olga",
            "fields[EMAIL][0][VALUE]": "olga@example.com",
            "fields[EMAIL][0][VALUE_TYPE]": "HOME",
            "fields[PHONE][n0][VALUE]": "+380501112233",
        },
    )
    contact_id = response.get_json()["result"]
    got = portal.client.get(f"/rest/1/sandboxtoken/crm.contact.get.json?id={contact_id}").get_json()
    assert got["result"]["EMAIL"][0]["VALUE_TYPE"] == "HOME"
    assert got["result"]["PHONE"][0]["VALUE"] == "+380501112233"


def test_paging_is_fifty_rows_with_next_and_total(portal: Portal, clock: FakeClock) -> None:
    for n in range(120):
        portal.result("crm.contact.add", {"fields": {"NAME": f"C{n}"}})
        clock.advance(0.5)
    first = portal.call("crm.contact.list", {"order": {"ID": "ASC"}, "select": ["ID"]})
    assert len(first["result"]) == 50 and first["next"] == 50 and first["total"] == 120
    last = portal.call("crm.contact.list", {"order": {"ID": "ASC"}, "start": 100, "select": ["ID"]})
    assert len(last["result"]) == 20 and "next" not in last and last["total"] == 120


def test_fast_paging_with_start_minus_one_skips_the_count(portal: Portal, clock: FakeClock) -> None:
    for n in range(75):
        portal.result("crm.deal.add", {"fields": {"TITLE": f"D{n}"}})
        clock.advance(0.5)
    seen: list[str] = []
    last_id = 0
    while True:
        body = portal.call(
            "crm.deal.list",
            {"order": {"ID": "ASC"}, "filter": {">ID": last_id}, "select": ["ID"], "start": -1},
        )
        assert "next" not in body and body["total"] == 0
        seen += [row["ID"] for row in body["result"]]
        if len(body["result"]) < 50:
            break
        last_id = int(body["result"][-1]["ID"])
    assert len(seen) == 75 and len(set(seen)) == 75
    items = portal.call(
        "crm.item.list", {"entityTypeId": 2, "filter": {">id": 50}, "start": -1, "select": ["id"]}
    )
    assert len(items["result"]["items"]) == 25 and items["total"] == 0


def test_filters_by_prefix_date_and_multifield(portal: Portal, clock: FakeClock) -> None:
    old = portal.result(
        "crm.contact.add", {"fields": {"NAME": "Old", "EMAIL": [{"VALUE": "a@x.com"}]}}
    )
    clock.advance(3600)
    boundary = portal.result("crm.contact.get", {"id": old})["DATE_MODIFY"]
    new = portal.result(
        "crm.contact.add", {"fields": {"NAME": "New", "EMAIL": [{"VALUE": "b@x.com"}]}}
    )
    by_date = portal.result(
        "crm.contact.list", {"filter": {">DATE_MODIFY": boundary}, "select": ["ID"]}
    )
    assert [r["ID"] for r in by_date] == [str(new)]
    since = portal.result(
        "crm.contact.list", {"filter": {">=DATE_MODIFY": boundary}, "select": ["ID"]}
    )
    assert len(since) == 2
    by_email = portal.result("crm.contact.list", {"filter": {"EMAIL": "A@X.COM"}, "select": ["ID"]})
    assert [r["ID"] for r in by_email] == [str(old)]
    by_name = portal.result("crm.contact.list", {"filter": {"%NAME": "ew"}, "select": ["ID"]})
    assert [r["ID"] for r in by_name] == [str(new)]
    not_old = portal.result("crm.contact.list", {"filter": {"!ID": old}, "select": ["ID"]})
    assert [r["ID"] for r in not_old] == [str(new)]
    both = portal.result("crm.contact.list", {"filter": {"@ID": [old, new]}, "select": ["ID"]})
    assert len(both) == 2


def test_order_and_select_masks(portal: Portal) -> None:
    portal.result("crm.contact.userfield.add", {"fields": {"FIELD_NAME": "LOYALTY_ID"}})
    for name in ("Boris", "Anna", "Clara"):
        portal.result(
            "crm.contact.add",
            {
                "fields": {
                    "NAME": name,
                    "UF_CRM_LOYALTY_ID": name.lower(),
                    "PHONE": [{"VALUE": "1"}],
                }
            },
        )
    rows = portal.result("crm.contact.list", {"order": {"NAME": "DESC"}, "select": ["NAME"]})
    assert [r["NAME"] for r in rows] == ["Clara", "Boris", "Anna"]
    assert set(rows[0]) == {"ID", "NAME"}
    everything = portal.result("crm.contact.list", {"select": ["*", "UF_*"]})[0]
    assert "UF_CRM_LOYALTY_ID" in everything and "PHONE" not in everything
    assert "LAST_NAME" in everything
    only_uf = portal.result("crm.contact.list", {"select": ["UF_*", "PHONE"]})[0]
    assert set(only_uf) == {"ID", "UF_CRM_LOYALTY_ID", "PHONE"}
    lower = portal.result(
        "crm.contact.list", {"filter": {"=UF_CRM_LOYALTY_ID": "anna"}, "select": ["NAME"]}
    )
    assert [r["NAME"] for r in lower] == ["Anna"]


def test_both_method_families_share_one_record(portal: Portal) -> None:
    deal_id = portal.result(
        "crm.deal.add", {"fields": {"TITLE": "Order 7", "OPPORTUNITY": 150.5, "ORIGIN_ID": "woo-7"}}
    )
    item = portal.result("crm.item.get", {"entityTypeId": 2, "id": deal_id})["item"]
    assert item["title"] == "Order 7" and item["opportunity"] == 150.5
    assert item["originId"] == "woo-7" and item["stageId"] == "NEW" and item["categoryId"] == 0
    portal.result(
        "crm.item.update", {"entityTypeId": 2, "id": deal_id, "fields": {"stageId": "WON"}}
    )
    legacy = portal.result("crm.deal.get", {"id": deal_id})
    assert (
        legacy["STAGE_ID"] == "WON"
        and legacy["CLOSED"] == "Y"
        and legacy["STAGE_SEMANTIC_ID"] == "S"
    )
    found = portal.result("crm.item.list", {"entityTypeId": 2, "filter": {"=originId": "woo-7"}})
    assert [i["id"] for i in found["items"]] == [deal_id]
    portal.result("crm.item.delete", {"entityTypeId": 2, "id": deal_id})
    assert (
        portal.call("crm.deal.get", {"id": deal_id}, status=400)["error_description"] == "Not found"
    )


def test_crm_item_fm_update_by_entry_id(portal: Portal) -> None:
    created = portal.result(
        "crm.item.add",
        {
            "entityTypeId": 3,
            "fields": {"name": "K", "fm": [{"typeId": "EMAIL", "value": "a@x.com"}]},
        },
    )["item"]
    entry = created["fm"][0]["id"]
    updated = portal.result(
        "crm.item.update",
        {
            "entityTypeId": 3,
            "id": created["id"],
            "fields": {
                "fm": {
                    str(entry): {"typeId": "EMAIL", "value": "new@x.com"},
                    "n0": {"typeId": "PHONE", "value": "+4930"},
                    "n1": {"value": "ignored-without-typeId"},
                }
            },
        },
    )["item"]
    assert [(f["typeId"], f["value"]) for f in updated["fm"]] == [
        ("EMAIL", "new@x.com"),
        ("PHONE", "+4930"),
    ]
    assert updated["fm"][0]["id"] == entry
    legacy = portal.result("crm.contact.get", {"id": created["id"]})
    assert legacy["EMAIL"][0]["VALUE"] == "new@x.com"


def test_moving_a_deal_between_funnels_needs_crm_item(portal: Portal) -> None:
    category = portal.control("POST", "deal-categories", {"name": "Wholesale"})["id"]
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "Bulk"}})
    portal.result("crm.deal.update", {"id": deal_id, "fields": {"CATEGORY_ID": category}})
    assert portal.result("crm.deal.get", {"id": deal_id})["CATEGORY_ID"] == "0"
    portal.result(
        "crm.item.update", {"entityTypeId": 2, "id": deal_id, "fields": {"categoryId": category}}
    )
    moved = portal.result("crm.deal.get", {"id": deal_id})
    assert moved["CATEGORY_ID"] == str(category) and moved["STAGE_ID"] == f"C{category}:NEW"
    stages = portal.result("crm.status.list", {"filter": {"ENTITY_ID": f"DEAL_STAGE_{category}"}})
    assert stages[0]["STATUS_ID"] == f"C{category}:NEW"


def test_unknown_stage_is_refused(portal: Portal) -> None:
    body = portal.call("crm.deal.add", {"fields": {"TITLE": "x", "STAGE_ID": "PAID"}}, status=400)
    assert body["error"] == "" and "PAID" in body["error_description"]


def test_original_uf_names_on_request(portal: Portal) -> None:
    portal.result("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "1721244482250"}})
    deal_id = portal.result("crm.deal.add", {"fields": {"UF_CRM_1721244482250": "Hello world!"}})
    camel = portal.result("crm.item.get", {"entityTypeId": 2, "id": deal_id})["item"]
    assert camel["ufCrm_1721244482250"] == "Hello world!"
    original = portal.result(
        "crm.item.get", {"entityTypeId": 2, "id": deal_id, "useOriginalUfNames": "Y"}
    )["item"]
    assert original["UF_CRM_1721244482250"] == "Hello world!"


def test_universal_product_rows_replace_the_deal_rows(portal: Portal) -> None:
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "Order"}})
    portal.result(
        "crm.deal.productrows.set", {"id": deal_id, "rows": [{"PRODUCT_NAME": "Old", "PRICE": 1}]}
    )
    rows = portal.result(
        "crm.item.productrow.set",
        {
            "ownerType": "D",
            "ownerId": deal_id,
            "productRows": [
                {"productName": "Tea", "price": 10.5, "quantity": 2},
                {"productName": "Cup", "price": 4, "quantity": 1},
            ],
        },
    )["productRows"]
    assert [(r["productName"], r["ownerId"]) for r in rows] == [("Tea", deal_id), ("Cup", deal_id)]
    legacy = portal.result("crm.deal.productrows.get", {"id": deal_id})
    assert [r["PRODUCT_NAME"] for r in legacy] == ["Tea", "Cup"]
    assert portal.result("crm.deal.get", {"id": deal_id})["OPPORTUNITY"] == "25.00"


def test_a_date_filter_with_an_unencoded_plus_still_reads(portal: Portal, clock: FakeClock) -> None:
    portal.result("crm.contact.add", {"fields": {"NAME": "Early"}})
    clock.advance(7200)
    late = portal.result("crm.contact.add", {"fields": {"NAME": "Late"}})
    since = portal.result("crm.contact.get", {"id": late})["DATE_CREATE"]
    # the key is encoded as any client must (it holds "="), the "+" of the offset is left raw
    query = f"filter%5B%3E%3DDATE_CREATE%5D={since}&select[]=NAME"
    body = portal.client.get(f"/rest/1/sandboxtoken/crm.contact.list?{query}").get_json()
    assert [r["NAME"] for r in body["result"]] == ["Late"]


def test_a_refused_update_changes_nothing(portal: Portal) -> None:
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "Keep"}})
    portal.call(
        "crm.deal.update",
        {"id": deal_id, "fields": {"TITLE": "Lost", "STAGE_ID": "NOPE"}},
        status=400,
    )
    assert portal.result("crm.deal.get", {"id": deal_id})["TITLE"] == "Keep"


def test_deleting_a_contact_unlinks_it_from_deals(portal: Portal) -> None:
    contact_id = portal.result("crm.contact.add", {"fields": {"NAME": "Gone"}})
    deal_id = portal.result(
        "crm.deal.add", {"fields": {"TITLE": "Order", "CONTACT_ID": contact_id}}
    )
    assert portal.result("crm.deal.get", {"id": deal_id})["CONTACT_ID"] == str(contact_id)
    assert portal.result("crm.contact.delete", {"id": contact_id}) is True
    assert portal.result("crm.deal.get", {"id": deal_id})["CONTACT_ID"] is None
    assert portal.call("crm.contact.get", {"id": contact_id}, status=400)["error"] == ""
