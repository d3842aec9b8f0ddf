"""`connector setup mandrill`: check the key (`users/ping`) and add the webhook of the message
events to `{PUBLIC_URL}/webhooks/mandrill` when it is missing. Mandrill makes the webhook's key;
it goes into CONNECTOR_MANDRILL_WEBHOOK_KEY (the command says so, never prints it)."""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.errors import ConfigError
from connector.systems.mandrill.settings import MandrillSettings


def run_setup(settings: Settings, **_options: Any) -> list[str]:
    from connector.systems.mandrill.client import MandrillClient

    client = MandrillClient.from_settings(settings)
    ours = settings.of(MandrillSettings)
    lines = [f"mandrill: key works ({client.ping()})"]
    public_url = getattr(settings, "public_url", None)
    if not public_url:
        raise ConfigError("CONNECTOR_PUBLIC_URL is required to add the Mandrill webhook")
    url = ours.webhook_url or f"{str(public_url).rstrip('/')}/webhooks/mandrill"
    hook, created = client.ensure_webhook(url)
    lines.append(f"mandrill: webhook {'added' if created else 'present'}: {url}")
    if not ours.webhook_key or ours.webhook_key != hook.get("auth_key"):
        lines.append(
            "mandrill: set CONNECTOR_MANDRILL_WEBHOOK_KEY to the webhook's key "
            "(Mandrill: Settings -> Webhooks, column Key)"
        )
    return lines
