"""Whatever a stranger sends, to whichever route, the answer is never a 5xx.

The routes come from the app's own `url_map`, so a route added later (the admin console) is
fuzzed without anyone remembering to list it here. Every route gets the hostile shapes twice:
from a stranger (no credentials), and from an authentic sender (signed, with the right token,
URL secret or Bearer) whose body is hostile, so the shapes get past the door to the parsers.
A hostile value goes into every field a route reads, one field at a time, the rest of the body
being valid; a route this file knows nothing of gets the fields of all of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask, request
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connector.app import create_app
from connector.services import Services
from connector.systems import shop
from connector.systems.whatsapp.routes import signature as whatsapp_signature
from connector.systems.woocommerce.webhooks import signature
from tests.support import make_settings

WC_SECRET, SHOP_SECRET = "wc-secret", "whsec_" + "c2hvcC1zZWNyZXQta2V5"
B24_TOKEN, URL_SECRET, ADMIN_TOKEN = "b24-app-token", "url-secret", "admin-token"
HOLE = "@@hostile@@"

# Raw JSON text put where a field's value goes.
HOSTILE_JSON = {
    "1,000 nested lists": "[" * 1000 + "]" * 1000,
    "1,000 nested objects": '{"a":' * 1000 + "1" + "}" * 1000,
    "65 nested lists": "[" * 65 + "]" * 65,
    "huge exponent": "1e999999",
    "huge exponent as text": '"1e999999999"',
    "1e26 as text": '"1e26"',
    "1e30": "1e30",
    "4,000-digit integer": "9" * 4000,
    "negative": "-1",
    "zero": "0",
    "fraction": "1.5",
    "NaN": "NaN",
    "NaN as text": '"NaN"',
    "-Infinity as text": '"-Infinity"',
    "list": "[1]",
    "object": '{"a": 1}',
    "true": "true",
    "null": "null",
    "empty text": '""',
    "emoji": json.dumps("\U0001f600", ensure_ascii=False),
    "superscript two": json.dumps("²", ensure_ascii=False),
    "lone surrogate": '"\\ud800"',
    "NUL": '"\\u0000"',
    "5,000 characters": json.dumps("x" * 5000),
}
# A form field's value (always text), and the shapes only a PHP key can take.
HOSTILE_FORM_VALUES = {
    "emoji": "\U0001f600",
    "superscript two": "²",
    "1e26": "1e26",
    "huge exponent": "1e999999",
    "negative": "-1",
    "zero": "0",
    "empty": "",
    "NUL": "\x00",
    "20 digits": "9" * 20,
    "5,000 characters": "x" * 5000,
}
HOSTILE_FORM_KEYS = {"list": "[]", "object": "[a]", "1,000 levels": "[a]" * 1000}
# Whole bodies, whatever the route expects.
HOSTILE_BODIES = {
    "empty": b"",
    "not UTF-8": b"\xff\xfe\xfa{",
    "1,000 nested lists": b"[" * 1000 + b"]" * 1000,
    "1,000 nested objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "1,000 unclosed lists": b"[" * 1000,
    "form 1,000 levels deep": b"a" + b"[a]" * 1000 + b"=1",
    "huge exponent": b"1e999999",
    "a bare text": b'"text"',
    "a bare list": b"[1]",
    "null": b"null",
}


@dataclass(frozen=True)
class Base:
    """A valid body of a route, and how it travels (json, form or query)."""

    encoding: str
    body: dict[str, Any]
    headers: dict[str, str] | None = None
    all_at_once: bool = False  # one hostile value in every field at once, not one at a time


WOO_HEADERS = {
    "X-WC-Webhook-Topic": "order.updated",
    "X-WC-Webhook-Resource": "order",
    "X-WC-Webhook-Event": "updated",
    "X-WC-Webhook-Delivery-ID": "77",
}
B24_EVENT = {
    "event": "ONCRMDEALUPDATE",
    "data": {"FIELDS": {"ID": "42"}},
    "ts": "1700000000",
    "event_handler_id": "7",
    "auth": {"application_token": B24_TOKEN, "member_id": "m", "domain": "portal.example"},
}
B24_INSTALL = {
    "event": "ONAPPINSTALL",
    "ts": "1700000000",
    "auth": {
        "application_token": B24_TOKEN,
        "access_token": "a",
        "refresh_token": "r",
        "expires_in": "3600",
        "member_id": "m",
        "client_endpoint": "https://portal.example/rest/",
    },
}
MAILCHIMP_EVENT = {
    "type": "subscribe",
    "fired_at": "2026-11-25 10:00:00",
    "data": {
        "id": "8a25ff1d98",
        "list_id": "a6b5da1054",
        "email": "ann@example.com",
        "old_email": "ann@example.org",
        "merges": {"FNAME": "Ann", "PHONE": "+380671234567"},
    },
}
TELEGRAM_UPDATE = {
    "update_id": 100001,
    "message": {
        "message_id": 1,
        "from": {"id": 5551, "is_bot": False, "first_name": "Olena"},
        "chat": {"id": 5551, "type": "private"},
        "date": 1796357666,
        "text": "/start Qm9vaw",
    },
}
WHATSAPP_NOTIFICATION = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "1022",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "statuses": [
                            {
                                "id": "wamid.A1",
                                "status": "failed",
                                "timestamp": "1796357666",
                                "recipient_id": "77011234567",
                                "errors": [{"code": 131026}],
                            }
                        ],
                        "messages": [
                            {
                                "from": "77011234567",
                                "id": "wamid.IN1",
                                "timestamp": "1796357700",
                                "type": "text",
                                "text": {"body": "STOP"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
CDEK_STATUS = {
    "type": "ORDER_STATUS",
    "date_time": "2026-11-25T10:00:00+0300",
    "uuid": "72753031-0f4e-4f77-a1f5-1a6b1c1e1e1e",
    "attributes": {
        "code": "DELIVERED",
        "status_date_time": "2026-11-25T10:00:00+0300",
        "cdek_number": "1106153417",
        "number": "woo-727",
        "is_return": False,
    },
}
BASES: dict[str, list[Base]] = {
    "/webhooks/woocommerce": [
        Base(
            "json",
            {
                "id": 727,
                "status": "processing",
                "date_modified_gmt": "2026-11-25T10:00:00",
                "line_items": [{"product_id": 5, "quantity": 1}],
            },
            WOO_HEADERS,
        )
    ],
    "/webhooks/bitrix24": [
        Base("form", B24_EVENT),
        Base("json", B24_EVENT),
        Base("form", B24_INSTALL),
    ],
    "/webhooks/shop": [
        Base(
            "json",
            {
                "type": "order.created",
                "occurred_at": "2026-11-25T10:00:00Z",
                "data": {"id": "A-1001", "total": "10.00", "email": "ann@example.com"},
            },
        )
    ],
    "/webhooks/mailchimp/<secret>": [Base("form", MAILCHIMP_EVENT)],
    "/webhooks/cdek/<secret>": [Base("json", CDEK_STATUS)],
    "/webhooks/telegram": [Base("json", TELEGRAM_UPDATE)],
    "/webhooks/whatsapp": [Base("json", WHATSAPP_NOTIFICATION)],
    "/api/loyalty/holds": [
        Base(
            "json",
            {"card": "7700123", "order_id": "o-1", "amount": "10", "order_total": "100"},
        )
    ],
    "/api/loyalty/holds/<order_id>/confirm": [Base("json", {"amount": "10"})],
    "/api/loyalty/holds/<order_id>/release": [],  # reads no body: the whole-body shapes only
    "/api/loyalty/balance": [
        Base("query", {"card": "7700123", "phone": "+380671234567", "email": "a@b.co"})
    ],
}
PATH_VALUES = {"secret": URL_SECRET, "order_id": "o-1"}


def _any_route_bases() -> list[Base]:
    """For a route this file does not know: the fields of every known one, as JSON, form and
    query, each hostile value in all of them at once (one request per value, not per field)."""
    merged: dict[str, Any] = {}
    for bases in BASES.values():
        for base in bases:
            merged.update(base.body)
    return [Base(encoding, merged, all_at_once=True) for encoding in ("json", "form", "query")]


def _paths(body: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every field of a body, nested ones included: ("data", "FIELDS", "ID")."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _php_pairs(body: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(body, dict):
        pairs = []
        for key, value in body.items():
            pairs.extend(_php_pairs(value, f"{prefix}[{key}]" if prefix else key))
        return pairs
    if isinstance(body, list):
        return [p for i, v in enumerate(body) for p in _php_pairs(v, f"{prefix}[{i}]")]
    return [(prefix, "" if body is None else str(body).lower() if body is False else str(body))]


def _php_key(path: tuple[str, ...]) -> str:
    return path[0] + "".join(f"[{part}]" for part in path[1:])


def shapes(base: Base) -> Iterator[tuple[str, bytes]]:
    """(description, encoded body) of each hostile shape for this base."""
    if base.all_at_once:
        leaves = [path for path in _paths(base.body) if not isinstance(_at(base.body, path), dict)]
        yield from _hostile(base, leaves, "every field")
        return
    for path in _paths(base.body):
        yield from _hostile(base, [path], ".".join(path))


def _hostile(base: Base, paths: list[tuple[str, ...]], name: str) -> Iterator[tuple[str, bytes]]:
    """The hostile values and (for forms) key shapes in the fields `paths`."""
    if base.encoding == "json":
        body = base.body
        for path in paths:
            body = _with(body, path, HOLE)
        template = json.dumps(body, ensure_ascii=False)
        for label, raw in HOSTILE_JSON.items():
            text = template.replace(json.dumps(HOLE), raw)
            yield f"{name} = {label}", text.encode("utf-8", "surrogatepass")
        return
    keys = [_php_key(path) for path in paths]
    others = [(k, v) for k, v in _php_pairs(base.body) if not k.startswith(tuple(keys))]
    for label, value in HOSTILE_FORM_VALUES.items():
        yield f"{name} = {label}", urlencode([*others, *((k, value) for k in keys)]).encode()
    for label, suffix in HOSTILE_FORM_KEYS.items():
        pairs = [*others, *((k + suffix, "1") for k in keys)]
        yield f"{name} as {label}", urlencode(pairs).encode()


def _at(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


def concrete_path(rule: str, arguments: set[str], authentic: bool) -> str:
    """The rule with its arguments filled in: the right URL secret for an authentic sender."""
    path = rule
    for name in arguments:
        value = PATH_VALUES.get(name, "1") if authentic else "wrong"
        for placeholder in (f"<{name}>", *(f"<{kind}:{name}>" for kind in ("path", "int"))):
            path = path.replace(placeholder, value)
    return path


def credentials(rule: str, body: bytes) -> dict[str, str]:
    """Every kind of credential at once: each route reads its own and ignores the rest."""
    stamp, message_id = int(time.time()), f"msg-{hash(body)}"
    headers = {
        "Authorization": f"Bearer {ADMIN_TOKEN}",
        "X-WC-Webhook-Signature": signature(body, WC_SECRET),
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": shop.sign(SHOP_SECRET, message_id, stamp, body),
        "X-Telegram-Bot-Api-Secret-Token": URL_SECRET,
        "X-Hub-Signature-256": whatsapp_signature(URL_SECRET, body),
    }
    for base in BASES.get(rule, []):
        headers.update(base.headers or {})
    return headers


@dataclass
class Fuzzer:
    """Sends every shape to every route of `app` and keeps what answered 5xx."""

    app: Flask
    failures: list[str]
    answers: dict[tuple[str, bool], set[int]]

    @classmethod
    def of(cls, app: Flask) -> Fuzzer:
        return cls(app, [], {})

    def run(self) -> Fuzzer:
        client = self.app.test_client()
        for rule in self.app.url_map.iter_rules():
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                for authentic in (False, True):
                    path = concrete_path(rule.rule, rule.arguments, authentic)
                    for label, body, content_type in self._requests(rule.rule, method):
                        self._send(
                            client, rule.rule, method, path, label, body, content_type, authentic
                        )
        return self

    def _requests(self, rule: str, method: str) -> Iterator[tuple[str, bytes, str]]:
        for label, body in HOSTILE_BODIES.items():
            yield label, body, "application/json"
            if body.startswith((b"a[", b"{")):
                yield f"{label} (as a form)", body, "application/x-www-form-urlencoded"
        for base in BASES.get(rule, _any_route_bases()):
            if (base.encoding == "query") != (method == "GET"):
                continue
            content_type = (
                "application/json"
                if base.encoding == "json"
                else "application/x-www-form-urlencoded"
            )
            for label, body in shapes(base):
                yield f"{base.encoding} {label}", body, content_type

    def _send(
        self,
        client: Any,
        rule: str,
        method: str,
        path: str,
        label: str,
        body: bytes,
        content_type: str,
        authentic: bool,
    ) -> None:
        headers = {"Content-Type": content_type}
        if authentic:
            headers.update(credentials(rule, body))
        else:
            body = body.replace(B24_TOKEN.encode(), b"forged-token")
        if content_type.endswith("urlencoded") and method == "GET":
            query = {"QUERY_STRING": body.decode("latin-1")}  # as a WSGI server passes it
            response = client.open(path, method=method, headers=headers, environ_overrides=query)
        else:
            response = client.open(path, method=method, data=body, headers=headers)
        self.answers.setdefault((rule, authentic), set()).add(response.status_code)
        if response.status_code >= 500:
            who = "an authentic sender" if authentic else "a stranger"
            snippet = response.get_data(as_text=True)[:120]
            self.failures.append(
                f"{method} {rule} from {who}, {label}: {response.status_code} {snippet}"
            )


@pytest.fixture
def services(tmp_path: Path):
    built = Services(
        make_settings(
            tmp_path,
            woocommerce_webhook_secret=WC_SECRET,
            shop_webhook_secret=SHOP_SECRET,
            bitrix24_application_token=B24_TOKEN,
            bitrix24_client_id="app.fuzz",
            bitrix24_client_secret="app-secret",
            mailchimp_webhook_secret=URL_SECRET,
            cdek_webhook_secret=URL_SECRET,
            telegram_bot_token="4242:fuzz",
            telegram_webhook_secret=URL_SECRET,
            whatsapp_access_token="wa-fuzz",
            whatsapp_phone_number_id="1065",
            whatsapp_app_secret=URL_SECRET,
            whatsapp_verify_token=URL_SECRET,
            admin_token=ADMIN_TOKEN,
        )
    )
    from connector.loyalty.tasks import provider_for

    ledger = provider_for(built)
    ledger.open_account("cust-1", card="7700123")
    ledger.accrue("cust-1", "receipt-1", Decimal(500))
    yield built
    built.close()


def test_no_route_answers_a_5xx_to_any_hostile_shape(services) -> None:
    app = create_app(services)
    fuzzer = Fuzzer.of(app).run()
    assert fuzzer.failures == []
    # The authentic pass got past the door of every route that has one: its shapes reached
    # the parsers (a 401 everywhere would make this test prove nothing).
    # A stranger is never accepted (Bitrix24's ONAPPINSTALL aside: it brings the token).
    for rule in BASES:
        assert fuzzer.answers[(rule, True)] - {401}, f"{rule}: every authentic request was a 401"
        assert 401 in fuzzer.answers[(rule, False)], f"{rule}: no stranger was refused"
        if rule != "/webhooks/bitrix24":
            assert all(s >= 400 for s in fuzzer.answers[(rule, False)]), f"{rule}: let in"


def test_the_fuzz_finds_a_500_on_a_route_it_was_never_told_about() -> None:
    app = Flask("future")

    @app.post("/api/console/rules")
    def naive() -> dict[str, Any]:  # reads JSON the way the routes did before
        return {"keys": len(request.get_json(silent=True) or {})}

    failures = Fuzzer.of(app).run().failures
    assert any("1,000 nested lists" in failure for failure in failures), failures


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = [
    (rule, base, path)
    for rule, bases in BASES.items()
    for base in bases
    if base.encoding == "json"
    for path in _paths(base.body)
]


@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_any_json_value_in_any_field_of_an_authentic_delivery_is_never_a_5xx(
    services, field, value
) -> None:
    rule, base, path = field
    client = create_app(services).test_client()
    body = json.dumps(_with(base.body, path, value)).encode()
    url = concrete_path(rule, {"secret", "order_id"}, authentic=True)
    headers = {"Content-Type": "application/json", **credentials(rule, body)}
    response = client.post(url, data=body, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
