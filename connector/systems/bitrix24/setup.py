"""`connector setup bitrix24`: check access, create user fields, subscribe to events; re-runnable.

An OAuth app binds its events itself (`event.bind`: online handlers to our endpoint, plus
offline queues tagged with our `auth_connector`). An inbound webhook cannot bind events
(`event.bind` is app-only, research/bitrix24.md 1.1), so the admin creates an *outgoing
webhook* in the Bitrix24 UI: we print what to enter. Against the sandbox we do what that
admin would, through its control API `POST <portal>/_sandbox/outgoing-webhooks`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.bitrix24.client import Bitrix24Client, UserField
from connector.systems.bitrix24.events import SYNC_EVENTS, bind_offline, bind_online
from connector.systems.bitrix24.oauth import TokenStore, WebhookConnection

WEBHOOK_PATH = "/webhooks/bitrix24"
_UF = re.compile(r"\bUF_CRM_[A-Z0-9_]+\b")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class SetupReport:
    """What setup found and did, one line per step, for the CLI to print."""

    lines: list[str] = field(default_factory=list)
    application_token: str | None = None

    def say(self, line: str) -> None:
        self.lines.append(line)


def handler_url(public_url: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH


def user_fields_from_mappings(mappings_dir: str | Path) -> dict[str, list[UserField]]:
    """The `UF_CRM_*` fields the Bitrix24 mapping files write, by entity ("contact", "deal").

    Files declare them with types under `custom_fields:` (`{name, type, label, multiple}`); any
    other `UF_CRM_*` name a file mentions is a string field.
    """
    found: dict[str, dict[str, UserField]] = {}
    folder = Path(mappings_dir) / "bitrix24"
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        entity = "contact" if path.stem.startswith(("contact", "customer")) else "deal"
        text = path.read_text(encoding="utf-8")
        fields = found.setdefault(entity, {})
        for declared in _declared(text):
            fields[declared.field_name] = declared
        for name in _UF.findall(text):
            fields.setdefault(name, UserField(name))
    from connector.analytics.rules import user_fields  # the figures of analytics.yaml

    for declared in user_fields(mappings_dir):
        found.setdefault("contact", {}).setdefault(declared.field_name, declared)
    return {entity: list(fields.values()) for entity, fields in found.items() if fields}


def _declared(text: str) -> list[UserField]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    data = data if isinstance(data, dict) else {}
    rows = data.get("custom_fields", data.get("user_fields"))
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("name"):
            out.append(
                UserField(
                    str(row["name"]),
                    str(row.get("type", "string")),
                    row.get("label"),
                    bool(row.get("multiple", False)),
                )
            )
    return out


def setup_bitrix24(
    client: Bitrix24Client,
    *,
    public_url: str,
    user_fields: dict[str, list[UserField]],
    token_store: TokenStore | None = None,
    sandbox: bool | None = None,
    events: Iterable[str] = SYNC_EVENTS,
    post: Callable[..., Any] | None = None,
) -> SetupReport:
    """Runs every step; each one reads first, so a second run changes nothing."""
    report = SetupReport()
    check_access(client, report)
    for entity, wanted in sorted(user_fields.items()):
        created = client.ensure_user_fields(entity, wanted)
        report.say(
            f"user fields ({entity}): {len(wanted)} wanted, "
            f"{len(created)} created{': ' + ', '.join(created) if created else ''}"
        )
    events = [name.upper() for name in events]
    handler = handler_url(public_url)
    if client.connection.is_app:
        added = bind_online(client, handler, events)
        report.say(
            f"online events -> {handler}: {len(added)} bound, {len(events) - len(added)} kept"
        )
        offline = bind_offline(client, events, client.auth_connector or "omnichannel_connector")
        report.say(
            f"offline event queues: {len(offline)} bound (auth_connector excludes our writes)"
        )
        return report
    connection = client.connection
    assert isinstance(connection, WebhookConnection)
    if sandbox is None:
        sandbox = urlsplit(connection.portal_url).hostname in _LOOPBACK
    if sandbox:
        register_sandbox_outgoing_webhook(client, connection, handler, events, report, post)
        if report.application_token and token_store is not None:
            stored = token_store.load() or {}
            token_store.save({**stored, "application_token": report.application_token})
    else:
        report.say("inbound webhooks cannot bind events: create an outgoing webhook in Bitrix24")
        report.lines.extend(outgoing_webhook_instructions(handler, events))
    return report


def check_access(client: Bitrix24Client, report: SetupReport) -> None:
    """One cheap read that needs the CRM scope; raises AuthError when access is missing."""
    fields = client.call("crm.contact.fields", {})
    kind = "OAuth app" if client.connection.is_app else "inbound webhook"
    report.say(f"access: ok ({kind}, {len(fields or {})} contact fields visible)")


def outgoing_webhook_instructions(handler: str, events: Iterable[str]) -> list[str]:
    return [
        "  Bitrix24: Applications > Developer resources > Other > Outgoing webhook",
        f"  Handler URL: {handler}",
        f"  Events: {', '.join(events)}",
        "  Save, then copy the shown application token into CONNECTOR_BITRIX24_APPLICATION_TOKEN",
    ]


def register_sandbox_outgoing_webhook(
    client: Bitrix24Client,
    connection: WebhookConnection,
    handler: str,
    events: list[str],
    report: SetupReport,
    post: Callable[..., Any] | None = None,
) -> None:
    """Does what the admin does in the UI, through the sandbox portal's control API."""
    base = connection.portal_url + "/_sandbox/outgoing-webhooks"
    session = client.session
    existing = session.get(base, timeout=client.timeouts.as_tuple())
    hooks = existing.json() if existing.ok else []
    hooks = hooks.get("items", hooks) if isinstance(hooks, dict) else hooks
    for hook in hooks if isinstance(hooks, list) else []:
        if hook.get("handler") == handler and set(events) <= {e.upper() for e in hook["events"]}:
            report.application_token = hook.get("application_token")
            report.say(f"sandbox outgoing webhook -> {handler}: already registered")
            return
    send = post or session.post
    answer = send(base, json={"handler": handler, "events": events}, timeout=30)
    answer.raise_for_status()
    report.application_token = answer.json().get("application_token")
    report.say(f"sandbox outgoing webhook -> {handler}: registered for {len(events)} events")


# --------------------------------------------------------------------------- `connector setup`


def run_setup(settings: Settings, *, sandbox: Any, **_options: Any) -> list[str]:
    from connector.systems.bitrix24 import Bitrix24Client
    from connector.systems.bitrix24.credentials import store_token_store

    if not settings.bitrix24_webhook_url and not settings.bitrix24_client_id:
        raise ConfigError("set CONNECTOR_BITRIX24_WEBHOOK_URL or the OAuth app settings")
    token_store = store_token_store(settings)
    client = Bitrix24Client.from_settings(settings, token_store=token_store)
    report = setup_bitrix24(
        client,
        public_url=settings.public_url,
        user_fields=user_fields_from_mappings(settings.mappings_path),
        token_store=token_store,
        sandbox=sandbox,
    )
    lines = list(report.lines)
    if report.application_token:
        lines.append(
            "application token stored; to pin it, set "
            f"CONNECTOR_BITRIX24_APPLICATION_TOKEN={report.application_token}"
        )
    return lines
