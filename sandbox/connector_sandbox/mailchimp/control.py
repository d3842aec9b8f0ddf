"""Control routes of the Mailchimp emulator: act as a subscriber or as the list, and wait for
batches.

A subscriber can sign up, unsubscribe, change their profile or their address; the list can clean an
address (a hard bounce). Each fires the audience webhooks exactly as
specs/mailchimp/webhooks/*.form.txt.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from connector_sandbox.common import Outbox
from connector_sandbox.mailchimp import errors
from connector_sandbox.mailchimp.batches import BatchRunner
from connector_sandbox.mailchimp.state import MailchimpState, md5_hex, timestamp


def blueprint(state: MailchimpState, outbox: Outbox, batches: BatchRunner) -> Blueprint:
    bp = Blueprint("mailchimp_sandbox", __name__, url_prefix="/_sandbox")

    @bp.before_request
    def remember_outbox() -> None:
        g.delivery_mark = outbox.sequence

    def answer(member: dict[str, Any]) -> Any:
        """Answers once the webhooks this action fired were delivered, with their results."""
        outbox.wait()
        deliveries = outbox.history(since=g.delivery_mark)
        return jsonify({"member": member, "deliveries": deliveries})

    @bp.post("/lists/<list_id>/members/<key>/subscribe")
    def subscribe(list_id: str, key: str) -> Any:
        """A person signs up through the hosted form (re-subscribing is allowed for a person)."""
        data = request.get_json(silent=True) or {}
        with state.lock:
            existing = state.find_member(list_id, key)
            if existing is None or existing["status"] == "archived":
                email = data.get("email_address") or key
                body = {
                    "email_address": email,
                    "status_if_new": "subscribed",
                    "merge_fields": data.get("merge_fields") or {},
                    "interests": data.get("interests") or {},
                    "ip_signup": data.get("ip_signup", "127.0.0.1"),
                    "ip_opt": data.get("ip_opt", "127.0.0.1"),
                }
                member = state.put_member(list_id, email, body, source="user")
            else:
                member = existing
                member["status"] = "subscribed"
                member["timestamp_opt"] = member["last_changed"] = timestamp()
                member["merge_fields"].update(data.get("merge_fields") or {})
                member.pop("unsubscribe_reason", None)
                state.notify(list_id, "subscribe", state.member_pairs("subscribe", member), "user")
        return answer(member)

    @bp.post("/lists/<list_id>/members/<key>/unsubscribe")
    def unsubscribe(list_id: str, key: str) -> Any:
        data = request.get_json(silent=True) or {}
        with state.lock:
            member = state.member(list_id, key)
            member["status"] = "unsubscribed"
            member["unsubscribe_reason"] = data.get("reason_text", "N/A (Unsubscribed by the user)")
            member["last_changed"] = timestamp()
            pairs = state.member_pairs(
                "unsubscribe",
                member,
                reason=data.get("reason", "manual"),
                campaign_id=data.get("campaign_id", ""),
            )
            state.notify(list_id, "unsubscribe", pairs, "user")
        return answer(member)

    @bp.post("/lists/<list_id>/members/<key>/profile")
    def profile(list_id: str, key: str) -> Any:
        data = request.get_json(silent=True) or {}
        with state.lock:
            member = state.member(list_id, key)
            merges = state.clean_merge_values(list_id, data.get("merge_fields") or {}, False, True)
            member["merge_fields"].update(merges)
            member["interests"].update(data.get("interests") or {})
            names = [
                member["merge_fields"].get("FNAME", ""),
                member["merge_fields"].get("LNAME", ""),
            ]
            member["full_name"] = " ".join(str(n) for n in names if n)
            member["last_changed"] = timestamp()
            state.notify(list_id, "profile", state.member_pairs("profile", member), "user")
        return answer(member)

    @bp.post("/lists/<list_id>/members/<key>/email")
    def change_email(list_id: str, key: str) -> Any:
        data = request.get_json(silent=True) or {}
        new_email = data.get("new_email", "")
        with state.lock:
            member = state.member(list_id, key)
            if state.find_member(list_id, new_email) is not None:
                raise errors.member_exists(new_email)
            old_email = member["email_address"]
            del state.members[list_id][member["id"]]
            member["email_address"] = new_email
            member["id"] = md5_hex(new_email.lower())
            member["last_changed"] = timestamp()
            state.members[list_id][member["id"]] = member
            pairs = state.upemail_pairs(list_id, member, old_email)
            state.notify(list_id, "upemail", pairs, "user")
        return answer(member)

    @bp.post("/lists/<list_id>/members/<key>/clean")
    def clean(list_id: str, key: str) -> Any:
        data = request.get_json(silent=True) or {}
        with state.lock:
            member = state.member(list_id, key)
            member["status"] = "cleaned"
            member["last_changed"] = timestamp()
            pairs = state.cleaned_pairs(
                list_id, member, data.get("reason", "hard"), data.get("campaign_id", "")
            )
            state.notify(list_id, "cleaned", pairs, "admin")
        return answer(member)

    @bp.post("/batches/wait")
    def batches_wait() -> Any:
        done = batches.wait(float(request.args.get("timeout", 30)))
        return jsonify({"finished": done}), (200 if done else 504)

    @bp.errorhandler(errors.Problem)
    def problem(error: errors.Problem) -> Any:
        return error.response()

    return bp
