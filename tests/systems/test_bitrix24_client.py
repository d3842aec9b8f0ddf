"""Bitrix24 client against recorded answers (`responses`) built from the official examples."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connector.errors import AuthError, PermanentError, RateLimited, TransientError
from connector.http import RetryPolicy
from connector.systems.bitrix24 import (
    Bitrix24Client,
    Command,
    MemoryTokenStore,
    OAuthConnection,
    OperatingBudget,
    Plan,
    WebhookConnection,
)
from connector.systems.bitrix24.batch import build_query, parse_batch
from connector.systems.bitrix24.errors import error_from_payload

HOOK = "https://portal.example/rest/1/secretcode/"
OAUTH = "https://oauth.example"


def make_client(clock, connection=None, **kwargs) -> Bitrix24Client:
    retry = kwargs.pop("retry", RetryPolicy(sleep=clock.sleep, max_wait=120))
    return Bitrix24Client(
        connection or WebhookConnection(HOOK),
        bucket=Plan(rate=2, burst=50).bucket(clock=clock, sleep=clock.sleep),
        operating=kwargs.pop("operating", OperatingBudget(clock=clock)),
        retry=retry,
        sleep=clock.sleep,
        max_workers=kwargs.pop("max_workers", 1),
        **kwargs,
    )


def body(call) -> dict:
    return json.loads(call.request.body)


@responses.activate
def test_call_posts_json_to_the_webhook_and_returns_the_result(clock, spec):
    responses.post(
        HOOK + "crm.deal.add", json=spec("bitrix24/responses/crm.deal.add.response.json")
    )
    deal_id = make_client(clock).add_deal({"TITLE": "Order 7"})
    assert deal_id == 394
    sent = body(responses.calls[0])
    assert sent["fields"] == {"TITLE": "Order 7"}
    assert sent["auth_connector"] == "omnichannel_connector"


@responses.activate
def test_query_limit_refusal_waits_and_retries(clock, spec):
    url = HOOK + "crm.deal.get"
    responses.post(
        url, status=503, json=spec("bitrix24/errors/error.QUERY_LIMIT_EXCEEDED.503.json")
    )
    responses.post(url, json=spec("bitrix24/responses/crm.deal.get.response.json"))
    deal = make_client(clock).get_deal(43)
    assert deal["ID"] == "410"
    assert len(responses.calls) == 2
    assert sum(clock.slept) >= 0.5  # backed off at least one drain interval


@responses.activate
def test_even_an_add_is_resent_after_a_rate_refusal(clock, spec):
    url = HOOK + "crm.deal.add"
    responses.post(
        url, status=503, json=spec("bitrix24/errors/error.QUERY_LIMIT_EXCEEDED.503.json")
    )
    responses.post(url, json={"result": 5})
    assert make_client(clock).add_deal({"TITLE": "x"}) == 5


@responses.activate
def test_an_add_is_not_resent_after_a_server_error(clock):
    responses.post(HOOK + "crm.deal.add", status=500, json={"error": "INTERNAL_SERVER_ERROR"})
    with pytest.raises(TransientError):
        make_client(clock).add_deal({"TITLE": "x"})
    assert len(responses.calls) == 1


@responses.activate
def test_html_error_page_is_transient_for_reads(clock):
    url = HOOK + "crm.deal.get"
    responses.post(url, status=502, body="<html>Bad gateway</html>", content_type="text/html")
    responses.post(url, json={"result": {"ID": "1"}})
    assert make_client(clock).get_deal(1) == {"ID": "1"}


@responses.activate
def test_operating_limit_blocks_only_that_method(clock, spec):
    limited = spec("bitrix24/errors/error.OPERATION_TIME_LIMIT.429.json")
    responses.post(HOOK + "crm.deal.list", status=429, json=limited)
    responses.post(HOOK + "crm.deal.get", json={"result": {"ID": "1"}})
    client = make_client(clock, retry=RetryPolicy(sleep=clock.sleep, max_wait=30))
    with pytest.raises(RateLimited) as raised:
        client.call("crm.deal.list", {})
    assert raised.value.wait >= 30
    assert client.operating.wait_for("crm.deal.list") > 30
    assert client.operating.wait_for("crm.deal.get") == 0
    assert client.get_deal(1) == {"ID": "1"}
    with pytest.raises(RateLimited):  # refused on our side, no request sent
        client.call("crm.deal.list", {})
    assert len(responses.calls) == 2


@responses.activate
def test_operating_counter_near_the_limit_pauses_the_method_until_reset(clock):
    timing = {"operating": 475.0, "operating_reset_at": clock.now + 20}
    responses.post(HOOK + "crm.contact.list", json={"result": [], "time": timing})
    client = make_client(clock)
    client.call("crm.contact.list", {})
    assert client.operating.wait_for("crm.contact.list") == pytest.approx(21)
    client.call("crm.contact.list", {})
    assert 21 in [pytest.approx(s) for s in clock.slept]


@responses.activate
def test_expired_token_is_refreshed_and_the_same_call_repeated(clock, spec):
    store = MemoryTokenStore(
        {
            "access_token": "old",
            "refresh_token": "r1",
            "client_endpoint": "https://portal.bitrix24.com/rest/",
        }
    )
    connection = OAuthConnection("app", "secret", store, oauth_url=OAUTH)
    expired = spec("bitrix24/errors/error.expired_token.401.json")
    url = "https://portal.bitrix24.com/rest/crm.contact.add"
    responses.post(url, status=401, json=expired)
    responses.post(url, json={"result": 77})
    refreshed = spec("bitrix24/oauth/token.refresh_token.response.json")
    responses.get(OAUTH + "/oauth/token/", json=refreshed)
    contact_id = make_client(clock, connection).add_contact({"NAME": "Ann"})
    assert contact_id == 77
    assert body(responses.calls[0])["auth"] == "old"
    refresh_query = parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert refresh_query["grant_type"] == ["refresh_token"]
    assert refresh_query["refresh_token"] == ["r1"]
    assert body(responses.calls[2])["auth"] == refreshed["access_token"]
    assert store.tokens["refresh_token"] == refreshed["refresh_token"]


@responses.activate
def test_refused_refresh_is_an_auth_error_and_not_repeated(clock, spec):
    store = MemoryTokenStore({"access_token": "old", "refresh_token": "dead"})
    connection = OAuthConnection(
        "app", "secret", store, oauth_url=OAUTH, portal_url="https://portal.example"
    )
    expired = spec("bitrix24/errors/error.expired_token.401.json")
    responses.post("https://portal.example/rest/crm.deal.get", status=401, json=expired)
    responses.get(OAUTH + "/oauth/token/", status=400, json={"error": "invalid_grant"})
    client = make_client(clock, connection)
    for _ in range(2):
        with pytest.raises(AuthError):
            client.get_deal(1)
    refreshes = [c for c in responses.calls if c.request.url.startswith(OAUTH)]
    assert len(refreshes) == 1


@responses.activate
def test_another_worker_refreshed_already(clock):
    store = MemoryTokenStore({"access_token": "old", "refresh_token": "r1"})
    connection = OAuthConnection("app", "secret", store, portal_url="https://p.example")
    assert connection.tokens["access_token"] == "old"  # this worker read the old token
    store.tokens = {"access_token": "new", "refresh_token": "r2"}  # another one refreshed
    connection.refresh("old")
    assert connection.sign({})[0]["auth"] == "new"


@responses.activate
def test_renamed_portal_is_followed_with_the_body(clock):
    responses.post(
        HOOK + "crm.deal.update",
        status=302,
        headers={"Location": "https://renamed.example/rest/1/secretcode/crm.deal.update"},
    )
    responses.post(
        "https://renamed.example/rest/1/secretcode/crm.deal.update", json={"result": True}
    )
    client = make_client(clock)
    assert client.update_deal(5, {"STAGE_ID": "WON"}) is True
    assert body(responses.calls[1])["fields"] == {"STAGE_ID": "WON"}
    assert client.connection.url("x") == "https://renamed.example/rest/1/secretcode/x"


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        ("errors/error.NO_AUTH_FOUND.401.json", AuthError),
        ("errors/error.insufficient_scope.403.json", AuthError),
        ("errors/crm.contact.get.400.empty-code.json", PermanentError),
        ("errors/crm.duplicate.findbycomm.400.json", PermanentError),
        ("errors/crm.item.list.INVALID_ARG_VALUE.400.json", PermanentError),
        ("errors/error.ERROR_EVENT_NOT_FOUND.400.json", PermanentError),
    ],
)
def test_documented_errors_are_typed(spec, file, kind):
    status = int(next((p for p in file.split(".") if p.isdigit()), 400))
    error = error_from_payload(status, spec(f"bitrix24/{file}"))
    assert type(error) is kind or isinstance(error, kind)


def test_html_in_error_text_is_stripped(spec):
    error = error_from_payload(
        400, spec("bitrix24/errors/crm.deal.productrows.set.ERROR_CORE.400.json")
    )
    assert isinstance(error, PermanentError)
    assert "<br>" not in str(error)


def test_query_is_built_like_php():
    query = build_query(
        {"fields": {"NAME": "Ann & Bob", "PHONE": [{"VALUE": "+7 999"}]}, "x": None}
    )
    assert query == "fields[NAME]=Ann%20%26%20Bob&fields[PHONE][0][VALUE]=%2B7%20999&x="


def test_batch_results_and_errors_are_attributed_per_command(spec):
    payload = spec("bitrix24/responses/batch.response.json")
    commands = [Command("user.current"), Command("department.get")]
    results = parse_batch(payload, commands, ["get_user", "get_department"])
    assert results[0].result["NAME"] == "John"
    assert results[1].total == 1
    failed = parse_batch(
        spec("bitrix24/responses/batch.error.halt0.response.json"),
        commands,
        ["get_user", "get_department"],
    )
    assert all(isinstance(r.error, AuthError) for r in failed)


def test_halted_batch_marks_unrun_commands_for_resending(spec):
    payload = spec("bitrix24/responses/batch.error.halt1.response.json")
    ids = list((payload["result"]["result_error"] or {}).keys()) + ["later"]
    results = parse_batch(payload, [Command("a")] * len(ids), ids)
    assert results[-1].error is not None and "not run" in str(results[-1].error)


def batch_answer(request, fail: dict[str, dict] | None = None):
    sent = json.loads(request.body)
    fail = fail or {}
    result = {cid: int(cid[1:]) + 1000 for cid in sent["cmd"] if cid not in fail}
    return 200, {}, json.dumps({"result": {"result": result, "result_error": fail or []}})


@responses.activate
def test_bulk_work_is_packed_50_per_batch_and_a_bad_record_fails_alone(clock):
    failures = {"c7": {"error": "", "error_description": "Invalid e-mail"}}
    seen = []

    def answer(request):
        seen.append(json.loads(request.body))
        return batch_answer(request, failures if len(seen) == 1 else None)

    responses.add_callback(responses.POST, HOOK + "batch", callback=answer)
    client = make_client(clock)
    items = [{"fields": {"NAME": f"n{i}"}, "phones": [f"+7999{i:07d}"]} for i in range(120)]
    results = client.add_contacts(items)
    assert [len(call["cmd"]) for call in seen] == [50, 50, 20]
    assert len(results) == 120
    assert [i for i, r in enumerate(results) if not r.ok] == [7]
    assert isinstance(results[7].error, PermanentError)
    assert results[8].result == 1008
    first = seen[0]["cmd"]["c0"]
    assert first.startswith("crm.contact.add?fields[NAME]=n0&fields[PHONE][0][VALUE]=%2B7999")
    assert seen[0]["halt"] == 0


@responses.activate
def test_only_refused_commands_of_a_batch_are_sent_again(clock):
    calls = []

    def answer(request):
        sent = json.loads(request.body)
        calls.append(sorted(sent["cmd"]))
        limited = {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}
        fail = {"c1": limited} if len(calls) == 1 else None
        return batch_answer(request, fail)

    responses.add_callback(responses.POST, HOOK + "batch", callback=answer)
    client = make_client(clock)
    results = client.batch([("crm.deal.update", {"id": i, "fields": {}}) for i in range(3)])
    assert all(r.ok for r in results)
    assert calls == [["c0", "c1", "c2"], ["c0"]]


@responses.activate
def test_a_failed_batch_call_gives_every_command_the_error(clock):
    responses.post(HOOK + "batch", status=500, body="oops")
    results = make_client(clock).batch([("crm.contact.add", {"fields": {}})] * 3)
    assert len(results) == 3
    assert all(isinstance(r.error, TransientError) for r in results)
    assert len(responses.calls) == 1  # adds are not re-sent blindly


@responses.activate
def test_list_all_pages_by_id_without_counting(clock):
    pages = [[{"ID": str(i)} for i in range(1, 51)], [{"ID": str(i)} for i in range(51, 61)]]
    sent = []

    def answer(request):
        sent.append(json.loads(request.body))
        return 200, {}, json.dumps({"result": pages[len(sent) - 1], "total": 0})

    responses.add_callback(responses.POST, HOOK + "crm.contact.list", callback=answer)
    rows = list(make_client(clock).list_all("crm.contact.list", {"TYPE_ID": "CLIENT"}, ["NAME"]))
    assert len(rows) == 60
    assert sent[0]["start"] == -1 and sent[0]["order"] == {"ID": "ASC"}
    assert sent[0]["filter"] == {"TYPE_ID": "CLIENT", ">ID": 0}
    assert sent[1]["filter"][">ID"] == 50
    assert sent[0]["select"] == ["ID", "NAME"]


@responses.activate
def test_incremental_read_filters_on_date_modify(clock, spec):
    responses.post(
        HOOK + "crm.deal.list", json=spec("bitrix24/responses/crm.deal.list.response.json")
    )
    rows = list(
        make_client(clock).list_modified_since("crm.deal.list", "2024-01-01T00:00:00+00:00")
    )
    assert rows
    assert body(responses.calls[0])["filter"][">DATE_MODIFY"] == "2024-01-01T00:00:00+00:00"


@responses.activate
def test_crm_item_lists_page_on_lower_case_id(clock, spec):
    responses.post(
        HOOK + "crm.item.list", json=spec("bitrix24/responses/crm.item.list.response.json")
    )
    rows = list(make_client(clock).list_all("crm.item.list", entityTypeId=2))
    assert rows and "id" in rows[0]
    assert body(responses.calls[0])["filter"] == {">id": 0}
    assert body(responses.calls[0])["entityTypeId"] == 2


@responses.activate
def test_duplicate_search_by_phone_and_email(clock, spec):
    found = spec("bitrix24/responses/crm.duplicate.findbycomm.response.json")["result"]
    empty = spec("bitrix24/responses/crm.duplicate.findbycomm.empty.response.json")["result"]

    def answer(request):
        cmd = json.loads(request.body)["cmd"]
        result = {cid: (found if "PHONE" in q else empty) for cid, q in cmd.items()}
        return 200, {}, json.dumps({"result": {"result": result, "result_error": []}})

    responses.add_callback(responses.POST, HOOK + "batch", callback=answer)
    phones = [f"+7999000{i:04d}" for i in range(25)]
    ids = make_client(clock).find_contacts_by_comm(phones, ["a@example.com"])
    assert ids == [275, 2297]
    cmd = body(responses.calls[0])["cmd"]
    assert len(cmd) == 3  # 20 + 5 phones, 1 e-mail
    assert "entity_type=CONTACT" in cmd["c0"]


@responses.activate
def test_contact_update_sends_value_ids_and_never_duplicates(clock, spec):
    existing = spec("bitrix24/responses/crm.contact.get.response.json")["result"]
    responses.post(HOOK + "crm.contact.update", json={"result": True})
    client = make_client(clock)
    changed = client.update_contact(
        43,
        {"NAME": "John"},
        phones=["+1 (333) 333-3555", "+15550001111"],
        emails=["JohnSmith@example.work"],
        existing=existing,
    )
    assert changed
    fields = body(responses.calls[0])["fields"]
    assert fields["PHONE"] == [{"VALUE": "+15550001111", "VALUE_TYPE": "WORK"}]
    assert "EMAIL" not in fields  # already there, in another case


@responses.activate
def test_contact_update_can_replace_values_by_id(clock, spec):
    existing = spec("bitrix24/responses/crm.contact.get.response.json")["result"]
    responses.post(HOOK + "crm.contact.update", json={"result": True})
    make_client(clock).update_contact(
        43, phones=["+15550001111"], existing=existing, remove_missing=True
    )
    phones = body(responses.calls[0])["fields"]["PHONE"]
    assert phones == [
        {"ID": "156", "VALUE": "+15550001111", "VALUE_TYPE": "WORK"},
        {"ID": "157", "DELETE": "Y"},
    ]


@responses.activate
def test_unchanged_contact_sends_nothing(clock, spec):
    existing = spec("bitrix24/responses/crm.contact.get.response.json")["result"]
    assert not make_client(clock).update_contact(43, phones=["+13333333555"], existing=existing)
    assert len(responses.calls) == 0


@responses.activate
def test_stages_product_rows_and_timeline(clock, spec):
    responses.post(
        HOOK + "crm.status.list",
        json=spec("bitrix24/responses/crm.status.list.DEAL_STAGE.response.json"),
    )
    responses.post(
        HOOK + "crm.deal.productrows.set",
        json=spec("bitrix24/responses/crm.deal.productrows.set.response.json"),
    )
    responses.post(
        HOOK + "crm.timeline.comment.add",
        json=spec("bitrix24/responses/crm.timeline.comment.add.response.json"),
    )
    client = make_client(clock)
    stages = client.stages()
    assert stages[0].id and {s.semantics for s in stages} >= {"process", "success", "failure"}
    rows = [{"PRODUCT_NAME": "Tea", "PRICE": 5, "QUANTITY": 2}]
    assert client.set_product_rows(9, rows) is True
    assert body(responses.calls[1])["rows"] == rows
    assert client.add_timeline_comment("DEAL", 9, "Paid") > 0
    assert body(responses.calls[2])["fields"]["ENTITY_TYPE"] == "deal"


@responses.activate
def test_missing_user_fields_are_created_once(clock, spec):
    from connector.systems.bitrix24 import UserField

    responses.post(
        HOOK + "crm.contact.userfield.list", json={"result": [{"FIELD_NAME": "UF_CRM_BONUS"}]}
    )
    responses.post(
        HOOK + "crm.contact.userfield.add",
        json=spec("bitrix24/responses/crm.contact.userfield.add.response.json"),
    )
    wanted = [UserField("UF_CRM_BONUS", "double"), UserField("LOYALTY_CARD", label="Card")]
    created = make_client(clock).ensure_user_fields("contact", wanted)
    assert created == ["UF_CRM_LOYALTY_CARD"]
    sent = body(responses.calls[1])["fields"]
    assert sent["FIELD_NAME"] == "LOYALTY_CARD" and sent["USER_TYPE_ID"] == "string"


@responses.activate
def test_bulk_export_chains_pages_inside_one_batch(clock):
    rows = [{"ID": str(i)} for i in range(1, 131)]

    def answer(request):
        cmd = json.loads(request.body)["cmd"]
        assert "filter[%3EID]=%24result%5Bc0%5D%5B49%5D%5BID%5D" in cmd["c1"]
        pages = {f"c{k}": rows[k * 50 : (k + 1) * 50] for k in range(len(cmd))}
        return 200, {}, json.dumps({"result": {"result": pages, "result_error": []}})

    responses.add_callback(responses.POST, HOOK + "batch", callback=answer)
    listed = list(make_client(clock).list_all("crm.contact.list", pages_per_call=5))
    assert [row["ID"] for row in listed] == [str(i) for i in range(1, 131)]
    assert len(responses.calls) == 1  # 3 pages in one request; the short one ends the chain


@responses.activate
def test_halt_stops_for_good_after_a_lasting_failure(clock):
    sent = []

    def answer(request):
        cmd = json.loads(request.body)["cmd"]
        sent.append(sorted(cmd))
        bad = {"error": "", "error_description": "Deal not found"}
        return (
            200,
            {},
            json.dumps({"result": {"result": {"c0": True}, "result_error": {"c1": bad}}}),
        )

    responses.add_callback(responses.POST, HOOK + "batch", callback=answer)
    results = make_client(clock).batch(
        [("crm.deal.update", {"id": i}) for i in range(3)], halt=True
    )
    assert results[0].ok and isinstance(results[1].error, PermanentError)
    assert "not run" in str(results[2].error)
    assert sent == [["c0", "c1", "c2"]]
