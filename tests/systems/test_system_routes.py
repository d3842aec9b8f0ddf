"""Each source's webhook route lives in its system's package and is mounted from the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from connector.app import create_app
from connector.services import Services
from connector.systems.registry import Registry, resolve
from tests.support import make_settings
from tests.webhooks.credentials import CDEK_SECRET

ROOT = Path(__file__).resolve().parents[2]
ROUTES = {
    "woocommerce": ["/webhooks/woocommerce"],
    "bitrix24": ["/webhooks/bitrix24"],
    "mailchimp": ["/webhooks/mailchimp/<secret>"],
    "cdek": ["/webhooks/cdek/<secret>"],
    "shop": ["/webhooks/shop"],
    "smsru": ["/webhooks/smsru/<secret>"],
    "twilio": ["/webhooks/twilio/inbound", "/webhooks/twilio/status"],
    "mandrill": ["/webhooks/mandrill"],
    "telegram": ["/webhooks/telegram"],
    "whatsapp": ["/webhooks/whatsapp", "/webhooks/whatsapp"],  # GET handshake, POST
}


@pytest.fixture
def services(tmp_path: Path):
    built = Services(make_settings(tmp_path, cdek_webhook_secret=CDEK_SECRET))
    yield built
    built.close()


def webhook_rules(services: Services) -> dict[str, list[str]]:
    """Route patterns under /webhooks, by the package of the view that serves them."""
    app = create_app(services)
    found: dict[str, list[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/webhooks/"):
            module = app.view_functions[rule.endpoint].__module__
            found.setdefault(module, []).append(rule.rule)
    return found


def test_every_source_is_served_by_the_blueprint_its_own_package_declares(services):
    rules = webhook_rules(services)
    for name, patterns in ROUTES.items():
        declared = services.systems.get(name).blueprint
        assert declared == f"connector.systems.{name}.routes:blueprint"
        assert sorted(rules[f"connector.systems.{name}.routes"]) == patterns
        assert resolve(declared).url_prefix == "/webhooks"
    assert set(rules) == {f"connector.systems.{name}.routes" for name in ROUTES}


def test_a_system_left_out_of_the_registry_takes_no_webhooks(services):
    services.__dict__["systems"] = Registry(s for s in Registry.discover() if s.name != "cdek")
    client = create_app(services).test_client()
    assert (
        client.post(f"/webhooks/cdek/{CDEK_SECRET}", json={"type": "ORDER_STATUS"}).status_code
        == 404
    )
    assert "connector.systems.cdek.routes" not in webhook_rules(services)


def test_a_systems_route_answers_a_failing_store_with_the_shared_503(services, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(services.inbound, "record", broken)
    client = create_app(services).test_client()
    body = {
        "type": "ORDER_STATUS",
        "uuid": "72753031-0ed7-4bb5-9ed1-2d14d6d2c1c5",
        "attributes": {"code": "DELIVERED", "status_date_time": "2024-05-01T10:00:00+0000"},
    }
    response = client.post(f"/webhooks/cdek/{CDEK_SECRET}", json=body)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'connector_webhooks_received_total{outcome="unavailable",source="cdek"} 1.0' in metrics
    assert 'route="/webhooks/cdek/<secret>",status="5xx"} 1.0' in metrics


def test_the_shared_webhooks_module_declares_no_route_of_its_own():
    tree = ast.parse((ROOT / "webhooks.py").read_text())
    decorated = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.decorator_list
    ]
    assert decorated == []
