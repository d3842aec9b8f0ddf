"""Helpers for tests of every area."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.config import Settings, load_settings
from connector_sandbox.wiring import free_port, point_webhooks_at

__all__ = ["free_port", "make_settings", "register_connector", "wait_for"]

SPECS = Path(__file__).resolve().parents[1] / "specs"
"""Official example payloads and API descriptions, copied into the repo (specs/README.md)."""


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings on a SQLite store inside `tmp_path`, with `overrides` as CONNECTOR_* values."""
    env = {"CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'connector.db'}"}
    env.update({f"CONNECTOR_{k.upper()}": str(v) for k, v in overrides.items()})
    return load_settings(env=env, env_file=None)


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    """Polls until `predicate()` is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


B24_EVENTS = ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMCONTACTADD", "ONCRMCONTACTUPDATE"]
WC_TOPICS = [
    "order.created",
    "order.updated",
    "customer.created",
    "customer.updated",
    "product.updated",
]


def register_connector(services: Any, url: str, sandbox: Any, application_token: str) -> None:
    """What `connector setup` does against the sandbox: CRM and merge fields, the Mailchimp
    audience webhook, the shop's webhooks and the CRM's outgoing webhook, all pointing at `url`."""
    from connector.systems.bitrix24.setup import user_fields_from_mappings
    from connector.systems.mailchimp.setup import merge_fields_from_mappings

    for entity, wanted in user_fields_from_mappings(services.mappings_path).items():
        services.bitrix24.ensure_user_fields(entity, wanted)
    settings = services.settings
    services.mailchimp.ensure_merge_fields(
        settings.mailchimp_list_id, merge_fields_from_mappings(services.mappings_path)
    )
    services.mailchimp.ensure_webhook(
        settings.mailchimp_list_id, f"{url}/webhooks/mailchimp/{settings.mailchimp_webhook_secret}"
    )
    point_webhooks_at(
        sandbox,
        url,
        woocommerce_topics=WC_TOPICS,
        bitrix24_events=B24_EVENTS,
        application_token=application_token,
    )
    # the SMS channels: Twilio's StatusCallback is built from the public URL; SMS.ru's callback
    # URL and Twilio's incoming-message webhook are what `connector setup` registers or prints
    services.settings = settings = settings.replace(public_url=url)
    if services.systems.enabled("smsru", settings):
        from connector.systems.smsru.setup import callback_url

        services.client("smsru").add_callback(callback_url(settings))
    if services.systems.enabled("twilio", settings) and "twilio" in sandbox.urls:
        sandbox.control(
            "twilio", "PUT", "/config", json={"sms_url": f"{url}/webhooks/twilio/inbound"}
        ).raise_for_status()
