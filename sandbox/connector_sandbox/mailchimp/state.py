"""The emulated Mailchimp account in memory: audiences, members, merge fields, tags, webhooks and
stores.

Member rules follow the docs (research/mailchimp.md §2): POST creates (an existing address is
"Member Exists"), PUT upserts (``status_if_new`` only for new members), a PUT/PATCH ``status:
subscribed`` of an unsubscribed or cleaned member is refused ("Member In Compliance State"), DELETE
archives and ``delete-permanent`` forgets the address for good ("Forgotten Email Not Subscribed"
afterwards).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime
from typing import Any

from connector_sandbox.common import md5_hex, utcnow
from connector_sandbox.mailchimp import errors

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
DEFAULT_MERGE_FIELDS = (
    ("FNAME", "First Name", "text"),
    ("LNAME", "Last Name", "text"),
    ("ADDRESS", "Address", "address"),
    ("PHONE", "Phone Number", "phone"),
)
ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")
DATE_FORMATS = (
    re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    re.compile(r"^\d{4}/\d{2}/\d{2}$"),
    re.compile(r"^\d{2}-\d{2}-\d{4}$"),
    re.compile(r"^\d{2}/\d{2}/\d{4}$"),
)
BIRTHDAY_FORMAT = re.compile(r"^\d{2}/\d{2}$")

# (event type, pairs, source) -> delivered to the list's webhooks
Notifier = Callable[[str, str, list[tuple[str, str]], str], None]


def timestamp(moment: datetime | None = None) -> str:
    """Mailchimp's ISO 8601 form: ``2015-09-16T14:32:46+00:00``."""
    return (moment or utcnow()).replace(microsecond=0).isoformat()


def subscriber_hash(email_or_hash: str) -> str:
    """The path parameter also accepts the address itself (spec 3.0.55)."""
    if "@" in email_or_hash:
        return md5_hex(email_or_hash.strip().lower())
    return email_or_hash.lower()


def short_id(length: int = 10) -> str:
    return secrets.token_hex(length // 2 + 1)[:length]


class MailchimpState:
    """One account; every mutation holds the lock, so concurrent requests see consistent data."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.notify: Notifier = lambda *_: None
        self.reset()

    # -- life cycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.lists: dict[str, dict[str, Any]] = {}
            self.members: dict[str, dict[str, dict[str, Any]]] = {}
            self.forgotten: dict[str, set[str]] = {}
            self.merge_fields: dict[str, list[dict[str, Any]]] = {}
            self.list_tags: dict[str, dict[str, dict[str, Any]]] = {}
            self.events: dict[str, list[dict[str, Any]]] = {}
            self.notes: dict[str, list[dict[str, Any]]] = {}
            self.webhooks: dict[str, dict[str, dict[str, Any]]] = {}
            self.stores: dict[str, dict[str, Any]] = {}
            self.store_items: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
            self.batches: dict[str, dict[str, Any]] = {}
            self.batch_results: dict[str, bytes] = {}
            self.campaigns: dict[str, dict[str, Any]] = {}  # campaigns.py
            self._next_merge_id = 1
            self._next_tag_id = 1000
            self._next_web_id = 100000
            self.create_list(
                {
                    "name": self.config.get("list_name", "Sandbox audience"),
                    "contact": {"company": "Sandbox", "country": "US"},
                    "permission_reminder": "You signed up in the sandbox shop.",
                    "email_type_option": False,
                    "campaign_defaults": {
                        "from_name": "Sandbox",
                        "from_email": "shop@example.com",
                        "subject": "",
                        "language": "en",
                    },
                },
                list_id=self.config["list_id"],
            )
            self.create_store(
                {
                    "id": self.config["store_id"],
                    "list_id": self.config["list_id"],
                    "name": "Sandbox store",
                    "currency_code": self.config.get("currency_code", "USD"),
                    "platform": "sandbox",
                }
            )

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return deepcopy(
                {
                    "lists": self.lists,
                    "members": self.members,
                    "forgotten": {k: sorted(v) for k, v in self.forgotten.items()},
                    "merge_fields": self.merge_fields,
                    "tags": self.list_tags,
                    "events": self.events,
                    "webhooks": self.webhooks,
                    "stores": self.stores,
                    "store_items": self.store_items,
                    "batches": self.batches,
                    "campaigns": self.campaigns,
                }
            )

    # -- audiences -------------------------------------------------------------------------------

    def create_list(self, body: dict[str, Any], list_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            list_id = list_id or short_id()
            now = timestamp()
            self._next_web_id += 1
            audience = {
                "id": list_id,
                "web_id": self._next_web_id,
                "name": body.get("name", ""),
                "contact": body.get("contact", {}),
                "permission_reminder": body.get("permission_reminder", ""),
                "use_archive_bar": body.get("use_archive_bar", True),
                "campaign_defaults": body.get("campaign_defaults", {}),
                "notify_on_subscribe": body.get("notify_on_subscribe", ""),
                "notify_on_unsubscribe": body.get("notify_on_unsubscribe", ""),
                "date_created": now,
                "list_rating": 0,
                "email_type_option": body.get("email_type_option", False),
                "subscribe_url_short": f"http://eepurl.com/{list_id}",
                "subscribe_url_long": f"http://sandbox.list-manage.com/subscribe?id={list_id}",
                "beamer_address": f"{list_id}@inbound.mailchimp.com",
                "visibility": body.get("visibility", "pub"),
                "double_optin": body.get("double_optin", False),
                "has_welcome": False,
                "marketing_permissions": body.get("marketing_permissions", False),
                "modules": [],
                "stats": {},
            }
            self.lists[list_id] = audience
            self.members[list_id] = {}
            self.forgotten[list_id] = set()
            self.list_tags[list_id] = {}
            self.webhooks[list_id] = {}
            self.merge_fields[list_id] = []
            for tag, name, kind in DEFAULT_MERGE_FIELDS:
                self.add_merge_field(list_id, {"tag": tag, "name": name, "type": kind})
            return audience

    def get_list(self, list_id: str) -> dict[str, Any]:
        audience = self.lists.get(list_id)
        if audience is None:
            raise errors.not_found()
        return audience

    def list_view(self, list_id: str) -> dict[str, Any]:
        with self.lock:
            audience = dict(self.get_list(list_id))
            members = self.members[list_id].values()
            counts = {"subscribed": 0, "unsubscribed": 0, "cleaned": 0}
            for member in members:
                if member["status"] in counts:
                    counts[member["status"]] += 1
            audience["stats"] = {
                "member_count": counts["subscribed"],
                "unsubscribe_count": counts["unsubscribed"],
                "cleaned_count": counts["cleaned"],
                "total_contacts": len(members),
                "merge_field_count": len(self.merge_fields[list_id]),
            }
            return audience

    # -- merge fields ------------------------------------------------------------------------------

    def add_merge_field(self, list_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.get_list(list_id)
            fields = self.merge_fields[list_id]
            tag = (body.get("tag") or body["name"]).upper().replace(" ", "")[:10]
            if any(f["tag"] == tag for f in fields):
                raise errors.invalid_resource(
                    f'A Merge Field with the tag "{tag}" already exists for this list.'
                )
            field = {
                "merge_id": self._next_merge_id,
                "tag": tag,
                "name": body["name"],
                "type": body["type"],
                "required": bool(body.get("required", False)),
                "default_value": body.get("default_value", ""),
                "public": bool(body.get("public", False)),
                "display_order": len(fields) + 2,
                "options": body.get("options", {}),
                "help_text": body.get("help_text", ""),
                "list_id": list_id,
            }
            self._next_merge_id += 1
            fields.append(field)
            return field

    def merge_field(self, list_id: str, merge_id: str) -> dict[str, Any]:
        for field in self.merge_fields.get(list_id, []):
            if str(field["merge_id"]) == str(merge_id):
                return field
        raise errors.not_found()

    def clean_merge_values(
        self, list_id: str, given: dict[str, Any], creating: bool, skip_validation: bool
    ) -> dict[str, Any]:
        """Checks values as Mailchimp does; unknown tags are dropped, text is cut at 255 bytes."""
        fields = {f["tag"]: f for f in self.merge_fields[list_id]}
        clean: dict[str, Any] = {}
        problems: list[dict[str, str]] = []
        for tag, value in given.items():
            field = fields.get(tag.upper())
            if field is None:
                continue
            message = None if value in ("", None) else _merge_value_problem(field, value)
            if message:
                problems.append({"field": field["tag"], "message": message})
                continue
            if field["type"] == "text" and isinstance(value, str):
                value = value.encode()[:255].decode("utf-8", "ignore")
            clean[field["tag"]] = "" if value is None else value
        if creating and not skip_validation:
            for field in fields.values():
                if field["required"] and clean.get(field["tag"]) in (None, ""):
                    problems.append({"field": field["tag"], "message": "Please enter a value"})
        if problems:
            raise errors.merge_fields_invalid(problems)
        return clean

    # -- members ---------------------------------------------------------------------------------

    def find_member(self, list_id: str, key: str, include_archived: bool = True) -> dict | None:
        self.get_list(list_id)
        member = self.members[list_id].get(subscriber_hash(key))
        if member is None or (member["status"] == "archived" and not include_archived):
            return None
        return member

    def member(self, list_id: str, key: str) -> dict[str, Any]:
        with self.lock:
            found = self.find_member(list_id, key)
            if found is None:
                raise errors.not_found()
            return found

    def add_member(
        self, list_id: str, body: dict[str, Any], skip_validation: bool = False, source: str = "api"
    ) -> dict[str, Any]:
        """POST: a create; an address already on the list is "Member Exists"."""
        with self.lock:
            email = _valid_email(body.get("email_address", ""))
            existing = self.find_member(list_id, email)
            if existing is not None and existing["status"] != "archived":
                raise errors.member_exists(email)
            return self._create_member(
                list_id, email, body, body["status"], skip_validation, source
            )

    def put_member(
        self,
        list_id: str,
        key: str,
        body: dict[str, Any],
        skip_validation: bool = False,
        source: str = "api",
    ) -> dict[str, Any]:
        """PUT: an upsert; ``status_if_new`` only when the member is created."""
        with self.lock:
            email = _valid_email(body.get("email_address", ""))
            existing = self.find_member(list_id, key)
            if existing is None or existing["status"] == "archived":
                other = self.find_member(list_id, email)
                if other is not None and other is not existing and other["status"] != "archived":
                    raise errors.member_exists(email)
                status = body.get("status") or body.get("status_if_new") or "subscribed"
                if existing is not None:
                    del self.members[list_id][existing["id"]]
                return self._create_member(list_id, email, body, status, skip_validation, source)
            return self._update_member(list_id, existing, body, skip_validation, source)

    def patch_member(
        self,
        list_id: str,
        key: str,
        body: dict[str, Any],
        skip_validation: bool = False,
        source: str = "api",
    ) -> dict[str, Any]:
        with self.lock:
            existing = self.find_member(list_id, key)
            if existing is None:
                raise errors.not_found()
            return self._update_member(list_id, existing, body, skip_validation, source)

    def archive_member(self, list_id: str, key: str) -> None:
        with self.lock:
            member = self.find_member(list_id, key, include_archived=False)
            if member is None:
                raise errors.not_found()
            member["status"] = "archived"
            member["last_changed"] = timestamp()

    def forget_member(self, list_id: str, key: str) -> None:
        with self.lock:
            member = self.find_member(list_id, key)
            if member is None:
                raise errors.not_found()
            del self.members[list_id][member["id"]]
            self.forgotten[list_id].add(member["email_address"].lower())
            self.events.pop(f"{list_id}:{member['id']}", None)

    def _create_member(
        self,
        list_id: str,
        email: str,
        body: dict[str, Any],
        status: str,
        skip_validation: bool,
        source: str,
    ) -> dict[str, Any]:
        if email.lower() in self.forgotten[list_id]:
            raise errors.forgotten_email(email)
        merges = self.clean_merge_values(
            list_id, body.get("merge_fields") or {}, True, skip_validation
        )
        now = timestamp()
        self._next_web_id += 1
        member_id = md5_hex(email.lower())
        member: dict[str, Any] = {
            "id": member_id,
            "email_address": email,
            "unique_email_id": short_id(),
            "contact_id": secrets.token_hex(16),
            "full_name": "",
            "web_id": self._next_web_id,
            "email_type": body.get("email_type", "html"),
            "status": status,
            "consents_to_one_to_one_messaging": True,
            "merge_fields": {f["tag"]: "" for f in self.merge_fields[list_id]} | merges,
            "interests": dict(body.get("interests") or {}),
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": body.get("ip_signup", ""),
            "timestamp_signup": body.get("timestamp_signup", ""),
            "ip_opt": body.get("ip_opt", ""),
            "timestamp_opt": body.get("timestamp_opt") or (now if status == "subscribed" else ""),
            "member_rating": 2,
            "last_changed": now,
            "language": body.get("language", ""),
            "vip": bool(body.get("vip", False)),
            "email_client": "",
            "location": {
                "latitude": 0,
                "longitude": 0,
                "gmtoff": 0,
                "dstoff": 0,
                "country_code": "",
                "timezone": "",
                "region": "",
            }
            | (body.get("location") or {}),
            "marketing_permissions": list(body.get("marketing_permissions") or []),
            "source": "API - Generic" if source == "api" else "Hosted Signup Form",
            "tags_count": 0,
            "tags": [],
            "list_id": list_id,
        }
        _refresh_full_name(member)
        self.members[list_id][member_id] = member
        for name in body.get("tags") or []:
            self._tag(list_id, member, name, True)
        if status == "subscribed":
            self.notify(list_id, "subscribe", self.member_pairs("subscribe", member), source)
        return member

    def _update_member(
        self,
        list_id: str,
        member: dict[str, Any],
        body: dict[str, Any],
        skip_validation: bool,
        source: str,
    ) -> dict[str, Any]:
        new_status = body.get("status")
        was = member["status"]
        if new_status == "subscribed" and was in ("unsubscribed", "cleaned"):
            raise errors.compliance_state(member["email_address"])
        new_email = body.get("email_address")
        old_email = member["email_address"]
        email_changed = bool(new_email) and new_email.lower() != old_email.lower()
        if email_changed:
            new_email = _valid_email(new_email)
            clash = self.find_member(list_id, new_email)
            if clash is not None and clash["status"] != "archived":
                raise errors.member_exists(new_email)
            if new_email.lower() in self.forgotten[list_id]:
                raise errors.forgotten_email(new_email)
        merges = self.clean_merge_values(
            list_id, body.get("merge_fields") or {}, False, skip_validation
        )
        profile_changed = bool(merges) and any(
            member["merge_fields"].get(tag) != value for tag, value in merges.items()
        )
        member["merge_fields"].update(merges)
        for name in ("email_type", "language", "vip", "ip_signup", "ip_opt", "timestamp_signup"):
            if name in body:
                member[name] = body[name]
        if "interests" in body:
            member["interests"].update(body["interests"] or {})
            profile_changed = True
        if "location" in body:
            member["location"].update(body["location"] or {})
        if "marketing_permissions" in body:
            member["marketing_permissions"] = list(body["marketing_permissions"] or [])
        if new_status and new_status != was:
            member["status"] = new_status
            if new_status == "subscribed":
                member["timestamp_opt"] = body.get("timestamp_opt") or timestamp()
            if new_status == "unsubscribed":
                member["unsubscribe_reason"] = "N/A (Unsubscribed by an admin)"
        _refresh_full_name(member)
        member["last_changed"] = timestamp()
        if email_changed:
            del self.members[list_id][member["id"]]
            member["email_address"] = new_email
            member["id"] = md5_hex(new_email.lower())
            self.members[list_id][member["id"]] = member
            self.notify(list_id, "upemail", self.upemail_pairs(list_id, member, old_email), source)
        if new_status and new_status != was:
            event = {"subscribed": "subscribe", "unsubscribed": "unsubscribe"}.get(new_status)
            if new_status == "cleaned":
                self.notify(list_id, "cleaned", self.cleaned_pairs(list_id, member), source)
            elif event:
                self.notify(list_id, event, self.member_pairs(event, member), source)
        elif profile_changed and member["status"] == "subscribed":
            self.notify(list_id, "profile", self.member_pairs("profile", member), source)
        return member

    def members_page(self, list_id: str, args: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.get_list(list_id)
            status = args.get("status")
            since = args.get("since_last_changed")
            found = []
            for member in self.members[list_id].values():
                if status:
                    if member["status"] != status:
                        continue
                elif member["status"] == "archived":
                    continue
                if since and member["last_changed"] < _normal_time(since):
                    continue
                found.append(member)
            if args.get("sort_field") == "last_changed":
                found.sort(key=lambda m: m["last_changed"], reverse=args.get("sort_dir") == "DESC")
            count = min(int(args.get("count", 10)), 1000)
            offset = int(args.get("offset", 0))
            return {
                "members": deepcopy(found[offset : offset + count]),
                "list_id": list_id,
                "total_items": len(found),
            }

    # -- tags and events ---------------------------------------------------------------------------

    def set_tags(self, list_id: str, key: str, tags: list[dict[str, Any]]) -> None:
        with self.lock:
            member = self.member(list_id, key)
            for tag in tags:
                self._tag(list_id, member, tag["name"], tag.get("status") == "active")
            member["last_changed"] = timestamp()

    def _tag(self, list_id: str, member: dict[str, Any], name: str, active: bool) -> None:
        names = [t["name"] for t in member["tags"]]
        if active and name not in names:
            known = self.list_tags[list_id].get(name)
            if known is None:
                self._next_tag_id += 1
                known = {"id": self._next_tag_id, "name": name}
                self.list_tags[list_id][name] = known
            member["tags"].append({"id": known["id"], "name": name, "date_added": timestamp()})
        elif not active and name in names:
            member["tags"] = [t for t in member["tags"] if t["name"] != name]
        member["tags_count"] = len(member["tags"])

    def add_event(self, list_id: str, key: str, body: dict[str, Any]) -> None:
        with self.lock:
            member = self.member(list_id, key)
            self.events.setdefault(f"{list_id}:{member['id']}", []).append(
                {
                    "name": body["name"],
                    "properties": body.get("properties") or {},
                    "occurred_at": body.get("occurred_at") or timestamp(),
                    "is_syncing": bool(body.get("is_syncing", False)),
                }
            )

    # -- webhook payloads (pairs in the order of specs/mailchimp/webhooks/*.pairs.json) -----------

    def merge_pairs(self, member: dict[str, Any]) -> list[tuple[str, str]]:
        pairs = [("data[merges][EMAIL]", member["email_address"])]
        for tag, value in member["merge_fields"].items():
            if isinstance(value, dict):
                for part, part_value in value.items():
                    pairs.append((f"data[merges][{tag}][{part}]", str(part_value)))
            else:
                pairs.append((f"data[merges][{tag}]", "" if value is None else str(value)))
        groups = [name for name, on in member["interests"].items() if on]
        if groups:
            pairs.append(("data[merges][INTERESTS]", ",".join(groups)))
        return pairs

    def member_pairs(
        self, event: str, member: dict[str, Any], reason: str = "manual", campaign_id: str = ""
    ) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if event == "unsubscribe":
            pairs += [("data[action]", "unsub"), ("data[reason]", reason)]
        pairs += [
            ("data[id]", member["unique_email_id"]),
            ("data[list_id]", member["list_id"]),
            ("data[email]", member["email_address"]),
            ("data[email_type]", member["email_type"]),
        ]
        pairs += self.merge_pairs(member)
        pairs.append(("data[ip_opt]", member["ip_opt"]))
        if event == "subscribe":
            pairs.append(("data[ip_signup]", member["ip_signup"]))
        if event == "unsubscribe":
            pairs.append(("data[campaign_id]", campaign_id))
        return pairs

    def upemail_pairs(
        self, list_id: str, member: dict[str, Any], old_email: str
    ) -> list[tuple[str, str]]:
        return [
            ("data[list_id]", list_id),
            ("data[new_id]", member["unique_email_id"]),
            ("data[new_email]", member["email_address"]),
            ("data[old_email]", old_email),
        ]

    def cleaned_pairs(
        self, list_id: str, member: dict[str, Any], reason: str = "hard", campaign_id: str = ""
    ) -> list[tuple[str, str]]:
        return [
            ("data[list_id]", list_id),
            ("data[campaign_id]", campaign_id),
            ("data[reason]", reason),
            ("data[email]", member["email_address"]),
        ]

    # -- e-commerce stores (collections live in ecommerce.py) -------------------------------------

    def create_store(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if body["id"] in self.stores:
                raise errors.invalid_resource("A store with the provided ID already exists.")
            if body["list_id"] not in self.lists:
                raise errors.invalid_resource(
                    errors.SCHEMA_DETAIL,
                    [{"field": "list_id", "message": "The list_id provided does not exist."}],
                )
            now = timestamp()
            store = {
                "id": body["id"],
                "list_id": body["list_id"],
                "name": body["name"],
                "platform": body.get("platform", ""),
                "domain": body.get("domain", ""),
                "is_syncing": bool(body.get("is_syncing", False)),
                "email_address": body.get("email_address", ""),
                "currency_code": body["currency_code"].upper(),
                "money_format": body.get("money_format", ""),
                "primary_locale": body.get("primary_locale", ""),
                "timezone": body.get("timezone", ""),
                "phone": body.get("phone", ""),
                "address": body.get("address", {}),
                "list_is_active": True,
                "created_at": now,
                "updated_at": now,
            }
            self.stores[store["id"]] = store
            self.store_items[store["id"]] = {
                "customers": {},
                "products": {},
                "carts": {},
                "orders": {},
                "promo-rules": {},
                "promo-codes": {},
            }
            return store

    def store(self, store_id: str) -> dict[str, Any]:
        found = self.stores.get(store_id)
        if found is None:
            raise errors.not_found()
        return found


def _valid_email(email: str) -> str:
    email = (email or "").strip()
    if not EMAIL_RE.match(email):
        raise errors.invalid_email()
    return email


def _refresh_full_name(member: dict[str, Any]) -> None:
    merges = member["merge_fields"]
    names = [str(merges.get("FNAME") or ""), str(merges.get("LNAME") or "")]
    member["full_name"] = " ".join(n for n in names if n)


def _normal_time(value: str) -> str:
    value = value.strip().replace(" ", "+")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        return timestamp(datetime.fromisoformat(value))
    except ValueError:
        return value


def _merge_value_problem(field: dict[str, Any], value: Any) -> str | None:
    kind = field["type"]
    if kind == "address":
        if isinstance(value, str):
            return None  # Mailchimp parses a one-line address itself
        if not isinstance(value, dict) or any(not value.get(k) for k in ADDRESS_REQUIRED):
            return "Please enter a complete address"
    elif kind == "number":
        try:
            float(value)
        except (TypeError, ValueError):
            return "Please enter a number"
    elif kind == "date":
        if not any(p.match(str(value)) for p in DATE_FORMATS):
            return "Please enter the date"
    elif kind == "birthday":
        if not BIRTHDAY_FORMAT.match(str(value)):
            return "Please enter a valid birthday (MM/DD)"
    elif kind in ("dropdown", "radio"):
        choices = (field.get("options") or {}).get("choices") or []
        if value not in choices:
            return "The value you selected is not a valid choice"
    elif kind in ("text", "phone", "url", "imageurl", "zip") and not isinstance(value, str | int):
        return "Data did not match any of the schemas described in anyOf."
    return None
