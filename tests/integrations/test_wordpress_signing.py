"""The WordPress plugin's signing, run with php-cli against the connector's own verifier: a cart
event the plugin signs is taken by `/webhooks/shop`, a tampered one is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.app import create_app
from connector.services import Services
from connector.store.tables import inbound_events, tasks
from connector.systems import shop
from tests.integrations.php import PLUGIN, php_files, run_php, sign
from tests.support import make_settings

SECRET = "whsec_c2hvcC1zZWNyZXQta2V5LWZvci1lMmU="
CART = {
    "id": "wc-5f2a",
    "customer": {"id": "", "email": "aigerim@example.com", "phone": "+77011234567"},
    "currency": "KZT",
    "total": 23980,
    "checkout_url": "https://shop.example.kz/checkout/?occ_cart=eyJj.sig",
    "lines": [
        {
            "id": "c4ca4238",
            "sku": "HP100",
            "product_id": 77,
            "variant_id": 77,
            "name": "Наушники",
            "quantity": 2,
            "price": 11990,
            "total": 23980,
        }
    ],
}


@pytest.fixture
def app_services(tmp_path: Path):
    built = Services(make_settings(tmp_path, shop_webhook_secret=SECRET))
    yield built
    built.close()


def post(services: Services, signed: dict, body: str | None = None):
    client = create_app(services).test_client()
    return client.post("/webhooks/shop", data=body or signed["body"], headers=signed["headers"])


def test_every_plugin_file_passes_php_lint(php):
    files = php_files()
    assert PLUGIN / "omnichannel-connector.php" in files and len(files) >= 5
    for path in files:
        result = run_php("-l", str(path))
        assert result.returncode == 0, f"{path}: {result.stdout}{result.stderr}"


def test_the_plugins_signed_cart_event_is_accepted_and_its_cart_reaches_the_queue(
    php, app_services
):
    signed = sign(SECRET, {"type": "cart.updated", "cart": CART})
    assert signed["headers"]["webhook-signature"].startswith("v1,")

    answer = post(app_services, signed)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == {"status": "accepted"}
    with app_services.engine.connect() as connection:
        [task] = connection.execute(select(tasks.c.kind, tasks.c.payload)).all()
    assert task.kind == "shop.cart"
    data = task.payload["data"]
    assert task.payload["action"] == "updated" and data["id"] == "wc-5f2a"
    assert data["customer"] == {"email": "aigerim@example.com", "phone": "+77011234567"}
    assert data["total"] == "23980.00" and data["lines"][0]["price"] == "11990.00"
    assert data["lines"][0]["product_id"] == "77" and data["lines"][0]["name"] == "Наушники"


def test_a_tampered_cart_event_is_refused_with_401_and_nothing_is_stored(php, app_services):
    signed = sign(SECRET, {"type": "cart.updated", "cart": CART})
    tampered = signed["body"].replace("23980.00", "1.00")

    assert post(app_services, signed, tampered).status_code == 401
    other = sign("whsec_" + "b3RoZXItc2VjcmV0", {"type": "cart.updated", "cart": CART})
    assert post(app_services, other).status_code == 401
    with app_services.engine.connect() as connection:
        assert connection.execute(select(inbound_events.c.id)).all() == []
        assert connection.execute(select(tasks.c.id)).all() == []


def test_php_and_python_sign_the_same_bytes_alike_for_either_kind_of_secret(php):
    body = json.dumps({"type": "cart.deleted", "data": {"id": "wc-1"}}, ensure_ascii=False)
    stamp = int(time.time())
    for secret in (SECRET, "plain-text-secret"):
        signed = sign(secret, {"body": body + " ü"}, message_id="msg_1", timestamp=stamp)
        expected = shop.sign(secret, "msg_1", stamp, (body + " ü").encode())
        assert signed["headers"]["webhook-signature"] == expected


def test_the_cart_restore_token_reads_back_only_with_the_secret_and_before_it_expires(php):
    restore = {"c": "wc-5f2a", "i": [[77, 0, 2, {"attribute_pa_color": "red"}]], "exp": 2_000}
    token = sign(SECRET, {"body": "", "restore": restore}, timestamp=1_000)["token"]

    assert sign(SECRET, {"body": "", "read": token}, timestamp=1_000)["read"] == restore
    assert sign(SECRET, {"body": "", "read": token}, timestamp=2_001)["read"] is None
    assert sign("whsec_b3RoZXI=", {"body": "", "read": token}, timestamp=1_000)["read"] is None
    unsigned = sign("", {"body": "", "restore": restore}, timestamp=1_000)["token"]
    assert sign("", {"body": "", "read": unsigned}, timestamp=1_000)["read"] is None
    payload, mac = token.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    assert sign(SECRET, {"body": "", "read": forged}, timestamp=1_000)["read"] is None
