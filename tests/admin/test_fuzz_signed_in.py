"""The console's routes under the webhook fuzz (tests/webhooks/test_fuzz.py), this time from a
signed-in admin whose requests carry the CSRF token, so the hostile shapes reach every view:
never a 5xx."""

from __future__ import annotations

from typing import Any

from tests.admin.conftest import ConsoleApp, csrf
from tests.admin.support import make_customer, make_dead_letter
from tests.webhooks.test_fuzz import (
    HOSTILE_BODIES,
    HOSTILE_FORM_KEYS,
    HOSTILE_FORM_VALUES,
    Fuzzer,
    concrete_path,
)

# The fields console forms and filters read; each hostile value goes into all of them at once.
FIELDS = (
    "id",
    "q",
    "name",
    "role",
    "password",
    "system",
    "kind",
    "error",
    "before",
    "next",
    "account",
    "action",
    "text",
    "content",
    "file",
    "version",
    "reason",
    "amount",
    "payload",
    "customer",
    "stream",
    "notice",
    "count",
    "lang",
)


SKIP = {"admin.signout", "admin.static"}  # the one ends the session; the other reads no input


class SignedInFuzzer(Fuzzer):
    client: Any = None
    token: str = ""

    def run(self) -> Fuzzer:
        for rule in self.app.url_map.iter_rules():
            if not rule.rule.startswith("/admin") or rule.endpoint in SKIP:
                continue
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                path = concrete_path(rule.rule, rule.arguments, True)
                for label, body, content_type in self._requests(rule.rule, method):
                    self._send(
                        self.client, rule.rule, method, path, label, body, content_type, False
                    )
        return self

    def _requests(self, rule: str, method: str) -> Any:
        from urllib.parse import urlencode

        for label, body in HOSTILE_BODIES.items():
            if method != "GET":  # a GET's body is never read; its query is, below
                yield label, body, "application/json"
            if method != "GET" or label == "not UTF-8":
                yield f"{label} (as a form)", body, "application/x-www-form-urlencoded"
        for label, value in HOSTILE_FORM_VALUES.items():
            form = urlencode({field: value for field in FIELDS}).encode()
            yield f"every field {label}", form, "application/x-www-form-urlencoded"
        for label, key in HOSTILE_FORM_KEYS.items():
            form = "&".join(f"{field}{key}=1" for field in FIELDS).encode()
            yield f"every key {label}", form, "application/x-www-form-urlencoded"

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
        headers = {"Content-Type": content_type, "X-CSRF-Token": self.token}
        if method == "GET" and content_type.endswith("urlencoded"):
            query = {"QUERY_STRING": body.decode("latin-1")}
            response = client.open(path, method=method, headers=headers, environ_overrides=query)
        else:
            response = client.open(path, method=method, data=body, headers=headers)
        self.answers.setdefault((rule, True), set()).add(response.status_code)
        if response.status_code >= 500:
            snippet = response.get_data(as_text=True)[:120]
            self.failures.append(f"{method} {rule}, {label}: {response.status_code} {snippet}")


def test_no_console_route_answers_a_5xx_to_a_signed_in_admin(console_app: ConsoleApp) -> None:
    make_customer(console_app.services)
    make_dead_letter(console_app.services, "push.bitrix24.deal", {"order": "1"})
    client = console_app.client("admin")
    fuzzer = SignedInFuzzer.of(console_app.app)
    fuzzer.client = client
    fuzzer.token = csrf(client.get("/admin/overview/").text)
    fuzzer.run()
    assert fuzzer.failures == [], "\n".join(fuzzer.failures[:20])
    # the session held and the shapes got past the door: not every answer was a redirect
    assert any(codes - {303, 401, 400} for codes in fuzzer.answers.values())
