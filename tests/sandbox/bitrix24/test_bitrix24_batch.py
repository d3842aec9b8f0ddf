"""``batch``: sections keyed by command, halt, $result[...] references, the 50-command cap."""

from __future__ import annotations

from .conftest import Portal, spec


def test_batch_answers_the_documented_sections(portal: Portal) -> None:
    portal.result("crm.contact.add", {"fields": {"NAME": "Anna"}})
    body = portal.call(
        "batch",
        {"halt": 0, "cmd": {"one": "crm.contact.get?id=1", "all": "crm.contact.list?select[]=ID"}},
    )
    example = spec("responses/batch.response.json")
    assert set(body) == set(example)
    assert set(body["result"]) == set(example["result"])
    assert body["result"]["result"]["one"]["NAME"] == "Anna"
    assert body["result"]["result"]["all"] == [{"ID": "1"}]
    assert body["result"]["result_total"] == {"all": 1}
    assert body["result"]["result_next"] == [] and body["result"]["result_error"] == []
    assert set(body["result"]["result_time"]["one"]) >= set(
        example["result"]["result_time"]["get_user"]
    )
    assert "operating" not in body["time"]


def test_result_references_chain_commands(portal: Portal) -> None:
    body = portal.call(
        "batch",
        {
            "halt": 1,
            "cmd": {
                "contact": "crm.contact.add?fields[NAME]=Ivan"
                "&fields[PHONE][0][VALUE]=%2B79001234567",
                "deal": "crm.deal.add?fields[TITLE]=Order%2042&fields[CONTACT_ID]=$result[contact]",
                "read": "crm.deal.get?id=$result[deal]",
                "phones": "crm.contact.list?filter[ID]=$result[read][CONTACT_ID]&select[]=PHONE",
                "label": "crm.deal.update?id=$result[deal]"
                "&fields[COMMENTS]=for%20$result[phones][0][PHONE][0][VALUE]",
            },
        },
    )
    result = body["result"]["result"]
    assert body["result"]["result_error"] == []
    assert result["read"]["CONTACT_ID"] == str(result["contact"])
    deal = portal.result("crm.deal.get", {"id": result["deal"]})
    assert deal["COMMENTS"] == "for +79001234567"


def test_halt_stops_at_the_first_failure(portal: Portal) -> None:
    cmd = {"bad": "crm.contact.get?id=999", "good": "crm.contact.list"}
    kept_going = portal.call("batch", {"halt": 0, "cmd": cmd})["result"]
    assert kept_going["result_error"] == {"bad": {"error": "", "error_description": "Not found"}}
    assert kept_going["result"]["good"] == []
    halted = portal.call("batch", {"halt": 1, "cmd": cmd})["result"]
    assert halted["result"] == [] and list(halted["result_error"]) == ["bad"]
    assert halted["result_time"] == []


def test_an_unresolved_reference_passes_through_as_text(portal: Portal) -> None:
    body = portal.call(
        "batch", {"cmd": {"deal": "crm.deal.add?fields[TITLE]=$result[nothing][ID]"}}
    )
    deal = portal.result("crm.deal.get", {"id": body["result"]["result"]["deal"]})
    assert deal["TITLE"] == "$result[nothing][ID]"


def test_list_command_ids_answer_arrays(portal: Portal) -> None:
    body = portal.call("batch", {"cmd": ["crm.contact.list", "crm.deal.list"]})
    assert body["result"]["result"] == [[], []]
    assert body["result"]["result_total"] == [0, 0]


def test_more_than_fifty_commands_are_refused(portal: Portal) -> None:
    body = portal.call(
        "batch", {"cmd": {f"c{i}": "crm.contact.list" for i in range(51)}}, status=400
    )
    assert body["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"


def test_nested_batch_is_not_allowed(portal: Portal) -> None:
    body = portal.call("batch", {"cmd": {"inner": "batch?cmd[x]=crm.contact.list"}})
    assert body["result"]["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_form_encoded_batch_like_php_clients_send(portal: Portal) -> None:
    response = portal.client.post(
        "/rest/1/sandboxtoken/batch",
        data={
            "halt": "0",
            "cmd[a]": "crm.contact.add?fields[NAME]=Olga",
            "cmd[b]": "crm.contact.get?id=$result[a]",
        },
    )
    assert response.status_code == 200
    assert response.get_json()["result"]["result"]["b"]["NAME"] == "Olga"
