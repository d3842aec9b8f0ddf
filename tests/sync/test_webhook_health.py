"""Webhooks the shop disabled after failed deliveries are switched back on; paused ones are not."""

from __future__ import annotations

from connector.sync.webhook_health import reenable_webhooks
from connector.systems.woocommerce.setup import webhook_url
from tests.sync.conftest import sandbox_services


def test_disabled_webhooks_to_us_are_reactivated(tmp_path, fresh_sandbox):
    services = sandbox_services(tmp_path, fresh_sandbox, public_url="http://127.0.0.1:9")
    client = services.woocommerce
    ours = webhook_url("http://127.0.0.1:9")
    client.ensure_webhooks(ours, "secret", ["order.updated", "order.created"])
    client.ensure_webhooks("http://elsewhere.invalid/hook", "s", ["order.updated"])
    hooks = {(h["delivery_url"], h["topic"]): h for h in client.list_webhooks()}
    for key, status in (
        ((ours, "order.updated"), "disabled"),
        ((ours, "order.created"), "paused"),
        (("http://elsewhere.invalid/hook", "order.updated"), "disabled"),
    ):
        client.request("PUT", f"/webhooks/{hooks[key]['id']}", json={"status": status})

    assert reenable_webhooks(services) == ["order.updated"]
    now = {(h["delivery_url"], h["topic"]): h["status"] for h in client.list_webhooks()}
    assert now == {
        (ours, "order.updated"): "active",
        (ours, "order.created"): "paused",
        ("http://elsewhere.invalid/hook", "order.updated"): "disabled",
    }
    assert reenable_webhooks(services) == []
    services.close()
