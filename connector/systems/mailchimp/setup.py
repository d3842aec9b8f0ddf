"""`connector setup mailchimp`: check access, create store and merge fields, register the webhook.

Every step reads before it writes, so running it twice changes nothing. The audience webhook
goes to `{PUBLIC_URL}/webhooks/mailchimp/<secret>` (Mailchimp's advice: a hard-to-guess secret
in the URL) with `sources.api` off so our own writes do not echo back (research/mailchimp.md 8).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.mailchimp.client import MailchimpClient, MergeField

_MERGE = re.compile(r"merge_fields[.\[]['\"]?([A-Z][A-Z0-9_]{0,9})\b")
_BUILT_IN = {"EMAIL"}


def webhook_url(public_url: str, secret: str | None) -> str:
    if not secret:
        raise ConfigError("CONNECTOR_MAILCHIMP_WEBHOOK_SECRET is required for the audience webhook")
    return f"{public_url.rstrip('/')}/webhooks/mailchimp/{secret}"


def merge_fields_from_mappings(mappings_dir: str | Path) -> list[MergeField]:
    """The merge fields the Mailchimp mapping files fill: declared ones, then any tag named.

    The member mapping declares them under `custom_fields:` (`{name: TAG, type, label}`).
    """
    found: dict[str, MergeField] = {}
    folder = Path(mappings_dir) / "mailchimp"
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        for field in _declared(text, member_file=path.stem.startswith("member")):
            found[field.tag] = field
        for tag in _MERGE.findall(text):
            if tag not in _BUILT_IN:
                found.setdefault(tag, MergeField(tag))
    from connector.analytics.rules import merge_fields  # the figures of analytics.yaml

    for field in merge_fields(mappings_dir):
        found.setdefault(field.tag, field)
    return list(found.values())


def _declared(text: str, *, member_file: bool) -> list[MergeField]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    data = data if isinstance(data, dict) else {}
    rows = data.get("merge_fields")
    if rows is None and (member_file or data.get("entity") == "member"):
        rows = data.get("custom_fields")
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not (row.get("tag") or row.get("name")):
            continue
        tag = str(row.get("tag") or row["name"]).upper()
        label = row.get("label") or (row.get("name") if row.get("tag") else None)
        options = row.get("options") if isinstance(row.get("options"), dict) else None
        out.append(MergeField(tag, label, str(row.get("type", "text")), options))
    return out


def setup_mailchimp(
    client: MailchimpClient,
    *,
    list_id: str | None,
    store_id: str,
    public_url: str,
    webhook_secret: str | None,
    merge_fields: Iterable[MergeField],
    store_name: str = "Shop",
    currency_code: str = "USD",
) -> list[str]:
    """Runs every step and returns one line per step."""
    if not list_id:
        raise ConfigError("CONNECTOR_MAILCHIMP_LIST_ID is required")
    lines = []
    health = client.ping() or {}
    lines.append(f"access: ok ({health.get('health_status', 'ping answered')})")
    store, created = client.ensure_store(store_id, list_id, store_name, currency_code)
    lines.append(f"store {store_id}: {'created' if created else 'exists'}")
    if store.get("list_id") and store["list_id"] != list_id:
        lines.append(f"  warning: store belongs to audience {store['list_id']}, not {list_id}")
    wanted = list(merge_fields)
    made = client.ensure_merge_fields(list_id, wanted)
    detail = f": {', '.join(made)}" if made else ""
    lines.append(f"merge fields: {len(wanted)} wanted, {len(made)} created{detail}")
    url = webhook_url(public_url, webhook_secret)
    _, created = client.ensure_webhook(list_id, url)
    shown = url.rsplit("/", 1)[0] + "/***"
    lines.append(f"audience webhook -> {shown}: {'registered' if created else 'exists'}")
    return lines


# --------------------------------------------------------------------------- `connector setup`


def run_setup(settings: Settings, *, store_name: Any, currency: Any, **_options: Any) -> list[str]:
    from connector.systems.mailchimp import MailchimpClient

    return setup_mailchimp(
        MailchimpClient.from_settings(settings),
        list_id=settings.mailchimp_list_id,
        store_id=settings.mailchimp_store_id,
        public_url=settings.public_url,
        webhook_secret=settings.mailchimp_webhook_secret,
        merge_fields=merge_fields_from_mappings(settings.mappings_path),
        store_name=store_name,
        currency_code=currency,
    )
