"""Audience routes: lists, members, merge fields, tags, member events and audience webhooks."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from flask import Blueprint, request

from connector_sandbox.common import Outbox
from connector_sandbox.mailchimp import errors
from connector_sandbox.mailchimp.state import MailchimpState, short_id

WEBHOOK_EVENTS = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
WEBHOOK_SOURCES = ("user", "admin", "api")
VALIDATOR_AGENT = "MailChimp.com WebHook Validator"


def blueprint(state: MailchimpState, outbox: Outbox, respond: Any, body: Any) -> Blueprint:
    bp = Blueprint("mailchimp_audience", __name__, url_prefix="/3.0")

    def skip_merge_validation() -> bool:
        return request.args.get("skip_merge_validation", "").lower() == "true"

    @bp.get("/")
    def root() -> Any:
        return respond(
            {
                "account_id": "sandbox",
                "login_id": "sandbox",
                "account_name": "Sandbox",
                "email": "owner@example.com",
                "role": "owner",
                "total_subscribers": sum(len(m) for m in state.members.values()),
            }
        )

    @bp.get("/ping")
    def ping() -> Any:
        return respond({"health_status": "Everything's Chimpy!"})

    # -- lists ---------------------------------------------------------------------------------

    @bp.get("/lists")
    def lists() -> Any:
        with state.lock:
            found = [state.list_view(list_id) for list_id in state.lists]
            return respond({"lists": found, "total_items": len(found)})

    @bp.post("/lists")
    def list_create() -> Any:
        return respond(state.create_list(body()))

    @bp.get("/lists/<list_id>")
    def list_get(list_id: str) -> Any:
        return respond(state.list_view(list_id))

    @bp.patch("/lists/<list_id>")
    def list_patch(list_id: str) -> Any:
        with state.lock:
            audience = state.get_list(list_id)
            audience.update({k: v for k, v in body().items() if k in audience and k != "id"})
            return respond(state.list_view(list_id))

    @bp.delete("/lists/<list_id>")
    def list_delete(list_id: str) -> Any:
        with state.lock:
            state.get_list(list_id)
            for table in (state.lists, state.members, state.merge_fields, state.webhooks):
                table.pop(list_id, None)
        return "", 204

    # -- members -------------------------------------------------------------------------------

    @bp.get("/lists/<list_id>/members")
    def members(list_id: str) -> Any:
        return respond(state.members_page(list_id, request.args))

    @bp.post("/lists/<list_id>/members")
    def member_add(list_id: str) -> Any:
        return respond(state.add_member(list_id, body(), skip_merge_validation()))

    @bp.get("/lists/<list_id>/members/<key>")
    def member_get(list_id: str, key: str) -> Any:
        return respond(state.member(list_id, key))

    @bp.put("/lists/<list_id>/members/<key>")
    def member_put(list_id: str, key: str) -> Any:
        return respond(state.put_member(list_id, key, body(), skip_merge_validation()))

    @bp.patch("/lists/<list_id>/members/<key>")
    def member_patch(list_id: str, key: str) -> Any:
        return respond(state.patch_member(list_id, key, body(), skip_merge_validation()))

    @bp.delete("/lists/<list_id>/members/<key>")
    def member_archive(list_id: str, key: str) -> Any:
        state.archive_member(list_id, key)
        return "", 204

    @bp.post("/lists/<list_id>/members/<key>/actions/delete-permanent")
    def member_forget(list_id: str, key: str) -> Any:
        state.forget_member(list_id, key)
        return "", 204

    @bp.get("/lists/<list_id>/members/<key>/tags")
    def tags_get(list_id: str, key: str) -> Any:
        with state.lock:
            member = state.member(list_id, key)
            tags = deepcopy(member["tags"])
            return respond({"tags": tags, "total_items": len(tags)})

    @bp.post("/lists/<list_id>/members/<key>/tags")
    def tags_post(list_id: str, key: str) -> Any:
        state.set_tags(list_id, key, body()["tags"])
        return "", 204

    @bp.get("/lists/<list_id>/members/<key>/events")
    def events_get(list_id: str, key: str) -> Any:
        with state.lock:
            member = state.member(list_id, key)
            events = deepcopy(state.events.get(f"{list_id}:{member['id']}", []))
            for event in events:
                event.pop("is_syncing", None)
            count = min(int(request.args.get("count", 10)), 1000)  # the spec's default, maximum
            offset = int(request.args.get("offset", 0))
            page = events[offset : offset + count]
            return respond({"events": page, "total_items": len(events)})

    @bp.post("/lists/<list_id>/members/<key>/events")
    def events_post(list_id: str, key: str) -> Any:
        state.add_event(list_id, key, body())
        return "", 204

    # -- merge fields --------------------------------------------------------------------------

    @bp.get("/lists/<list_id>/merge-fields")
    def merge_fields(list_id: str) -> Any:
        with state.lock:
            state.get_list(list_id)
            fields = state.merge_fields[list_id]
            return respond({"merge_fields": fields, "list_id": list_id, "total_items": len(fields)})

    @bp.post("/lists/<list_id>/merge-fields")
    def merge_field_add(list_id: str) -> Any:
        return respond(state.add_merge_field(list_id, body()))

    @bp.route("/lists/<list_id>/merge-fields/<merge_id>", methods=["GET", "PATCH", "DELETE"])
    def merge_field(list_id: str, merge_id: str) -> Any:
        with state.lock:
            state.get_list(list_id)
            field = state.merge_field(list_id, merge_id)
            if request.method == "GET":
                return respond(field)
            if request.method == "PATCH":
                changes = {k: v for k, v in body().items() if k in field and k != "merge_id"}
                field.update(changes)
                return respond(field)
            state.merge_fields[list_id].remove(field)
            return "", 204

    # -- audience webhooks ---------------------------------------------------------------------

    @bp.get("/lists/<list_id>/webhooks")
    def webhooks(list_id: str) -> Any:
        with state.lock:
            state.get_list(list_id)
            hooks = list(state.webhooks[list_id].values())
            return respond({"webhooks": hooks, "list_id": list_id, "total_items": len(hooks)})

    @bp.post("/lists/<list_id>/webhooks")
    def webhook_add(list_id: str) -> Any:
        data = body()
        state.get_list(list_id)
        url = data.get("url", "")
        check = outbox.send(
            url, None, {"User-Agent": VALIDATOR_AGENT}, method="GET", kind="webhook-validation"
        )
        if check["status"] != 200:
            raise errors.invalid_resource(
                errors.SCHEMA_DETAIL,
                [
                    {
                        "field": "url",
                        "message": "The URL you provided did not respond to our validation "
                        "request. Please make sure the URL is valid and try again.",
                    }
                ],
            )
        with state.lock:
            hook = {
                "id": short_id(),
                "url": url,
                "events": {
                    e: bool((data.get("events") or {}).get(e, True)) for e in WEBHOOK_EVENTS
                },
                "sources": {
                    s: bool((data.get("sources") or {}).get(s, s != "api")) for s in WEBHOOK_SOURCES
                },
                "list_id": list_id,
            }
            state.webhooks[list_id][hook["id"]] = hook
            return respond(hook)

    @bp.route("/lists/<list_id>/webhooks/<hook_id>", methods=["GET", "PATCH", "DELETE"])
    def webhook(list_id: str, hook_id: str) -> Any:
        with state.lock:
            state.get_list(list_id)
            hook = state.webhooks[list_id].get(hook_id)
            if hook is None:
                raise errors.not_found()
            if request.method == "GET":
                return respond(hook)
            if request.method == "PATCH":
                data = body()
                hook["url"] = data.get("url", hook["url"])
                hook["events"].update(data.get("events") or {})
                hook["sources"].update(data.get("sources") or {})
                return respond(hook)
            del state.webhooks[list_id][hook_id]
            return "", 204

    return bp
