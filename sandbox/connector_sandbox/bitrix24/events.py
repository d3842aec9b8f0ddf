"""Outbound events as Bitrix24 sends them: online POSTs, never re-sent, and offline queues.

Online: ``application/x-www-form-urlencoded`` with PHP keys (``data[FIELDS][ID]``,
``auth[application_token]``); CRM events carry only the ID; a failed POST is logged and dropped
(https://apidocs.bitrix24.com/api-reference/events/index.html, specs/bitrix24/events/). Offline: one
record per object and event, coalesced, one queue per ``auth_connector``; writes made with that
connector are left out (https://apidocs.bitrix24.com/api-reference/events/offline-events.html).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from .state import Binding, PortalState, Token

# Events event.bind accepts (case-insensitive); outgoing webhooks offer only the online CRM ones.
CRM_EVENTS = frozenset(
    f"ONCRM{entity}{action}"
    for entity in ("CONTACT", "DEAL", "LEAD", "COMPANY")
    for action in ("ADD", "UPDATE", "DELETE")
)
KNOWN_EVENTS = CRM_EVENTS | {
    "ONCRMDEALMOVETOCATEGORY",
    "ONCRMCONTACTUSERFIELDADD",
    "ONCRMCONTACTUSERFIELDUPDATE",
    "ONCRMCONTACTUSERFIELDDELETE",
    "ONCRMDEALUSERFIELDADD",
    "ONCRMDEALUSERFIELDUPDATE",
    "ONCRMDEALUSERFIELDDELETE",
    "ONCRMTIMELINECOMMENTADD",
    "ONCRMTIMELINECOMMENTUPDATE",
    "ONCRMTIMELINECOMMENTDELETE",
    "ONAPPUNINSTALL",
    "ONAPPUPDATE",
    "ONAPPTEST",
    "ONOFFLINEEVENT",
}
OUTGOING_WEBHOOK_EVENTS = CRM_EVENTS | {"ONCRMTIMELINECOMMENTADD"}


def php_pairs(prefix: str, value: Any) -> list[tuple[str, str]]:
    """``http_build_query`` for one key: nested dicts become ``prefix[a][b]`` pairs."""
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            pairs += php_pairs(f"{prefix}[{key}]", item)
        return pairs
    if isinstance(value, list):
        return php_pairs(prefix, {str(i): v for i, v in enumerate(value)})
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "1" if value else "")]
    return [(prefix, str(value))]


class EventBus:
    """Fires portal events into online deliveries and offline queues; owns the delivery thread."""

    def __init__(self, state: PortalState) -> None:
        self.state = state
        self._jobs: deque[dict[str, Any]] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._running = False
        self._last_offline_signal: dict[int, float] = {}
        # handlers are on loopback; a proxy from the environment must not see them
        self._session = requests.Session()
        self._session.trust_env = False

    # -- addresses ------------------------------------------------------------------------------

    def client_endpoint(self) -> str:
        return self.state.base_url.rstrip("/") + "/rest/"

    def server_endpoint(self) -> str:
        """Our own OAuth server lives on the same host (``/oauth/token/``)."""
        return self.state.base_url.rstrip("/") + "/rest/"

    def domain(self) -> str:
        return self.state.config.domain or urlsplit(self.state.base_url).netloc

    # -- firing ---------------------------------------------------------------------------------

    def fire(
        self,
        event: str,
        fields: dict[str, Any],
        connector: str | None = None,
        user_id: int | None = None,
    ) -> None:
        """A change happened in the CRM: queue online POSTs and offline records for it."""
        state = self.state
        event = event.upper()
        for binding in list(state.bindings):
            if binding.event != event:
                continue
            if binding.offline:
                continue
            self._enqueue(binding, event, {"FIELDS": fields})
        for hook in state.outgoing_webhooks:
            for binding in hook["bindings"]:
                if binding.event == event:
                    self._enqueue(binding, event, {"FIELDS": fields})
        self._queue_offline(event, fields, connector, user_id)

    def _queue_offline(
        self, event: str, fields: dict[str, Any], connector: str | None, user_id: int | None
    ) -> None:
        state = self.state
        queues = {b.auth_connector for b in state.bindings if b.offline and b.event == event}
        for queue in sorted(queues):
            if connector and connector == queue:
                continue  # our own write, announced with the bound auth_connector
            data = {"FIELDS": fields}
            message_id = hashlib.md5(f"{event}|{sorted(fields.items())}".encode()).hexdigest()
            now = state.now()
            existing = next(
                (
                    r
                    for r in state.offline_events
                    if r["CONNECTOR"] == queue
                    and r["MESSAGE_ID"] == message_id
                    and r["PROCESS_ID"] is None
                    and not r["ERROR"]
                ),
                None,
            )
            if existing:
                existing["TIMESTAMP_X"] = now
                change = "update"
            else:
                state.offline_events.append(
                    {
                        "ID": state.next_id("offline"),
                        "TIMESTAMP_X": now,
                        "EVENT_NAME": event,
                        "EVENT_DATA": data,
                        "EVENT_ADDITIONAL": {"user_id": str(user_id or 0)},
                        "MESSAGE_ID": message_id,
                        "PROCESS_ID": None,
                        "ERROR": 0,
                        "CONNECTOR": queue,
                    }
                )
                change = "add"
            self._signal_offline(event, change)

    def _signal_offline(self, event: str, change: str) -> None:
        """ONOFFLINEEVENT: a nudge that the offline queue has news, at most once per minTimeout."""
        now = self.state.now()
        for binding in self.state.bindings:
            if binding.event != "ONOFFLINEEVENT" or binding.offline:
                continue
            options = binding.options if isinstance(binding.options, dict) else {}
            try:
                min_timeout = float(options.get("minTimeout", 1))
            except (TypeError, ValueError):
                min_timeout = 1.0
            last = self._last_offline_signal.get(binding.id)
            if last is not None and now - last < min_timeout:
                continue
            self._last_offline_signal[binding.id] = now
            self._enqueue(
                binding, "ONOFFLINEEVENT", {"type": change, "event": event, "handler": ""}
            )

    def send_install(self, handler: str) -> dict[str, Any]:
        """ONAPPINSTALL to an app's installation URL: the one time it gets both tokens."""
        state = self.state
        access, refresh = (
            state.access_tokens[state.current_access_token],
            state.refresh_tokens[state.current_refresh_token],
        )
        binding = Binding(0, "ONAPPINSTALL", handler, "app", state.config.application_token)
        data = {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"}
        return self._enqueue(binding, "ONAPPINSTALL", data, tokens=(access, refresh))

    # -- payload --------------------------------------------------------------------------------

    def _auth(self, binding: Binding, tokens: tuple[Token, Token | None] | None) -> dict[str, Any]:
        state = self.state
        if binding.source == "outgoing-webhook":
            return {
                "domain": self.domain(),
                "client_endpoint": self.client_endpoint(),
                "server_endpoint": self.server_endpoint(),
                "member_id": state.config.member_id,
                "application_token": binding.application_token,
            }
        if tokens is None:
            # the portal signs each event with a fresh pair for the user behind it
            tokens = state.issue_tokens(state.now(), make_current=False)
        access, refresh = tokens
        auth: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": str(state.config.access_token_lifetime),
            "scope": ",".join(state.config.scopes),
            "domain": self.domain(),
            "server_endpoint": self.server_endpoint(),
            "status": "L",
            "client_endpoint": self.client_endpoint(),
            "member_id": state.config.member_id,
        }
        if refresh is not None:
            auth["refresh_token"] = refresh.value
        auth["application_token"] = binding.application_token
        return auth

    def _enqueue(
        self,
        binding: Binding,
        event: str,
        data: dict[str, Any],
        tokens: tuple[Token, Token | None] | None = None,
    ) -> dict[str, Any]:
        state = self.state
        body: dict[str, Any] = {"event": event}
        if binding.id:
            body["event_handler_id"] = str(binding.id)
        body["data"] = data
        body["ts"] = str(int(state.now()))
        body["auth"] = self._auth(binding, tokens)
        pairs: list[tuple[str, str]] = []
        for key, value in body.items():
            pairs += php_pairs(key, value)
        record = {
            "id": state.next_id("delivery"),
            "event": event,
            "event_handler_id": binding.id,
            "handler": binding.handler,
            "source": binding.source,
            "body": body,
            "form": urlencode(pairs),
            "status": "pending",
            "status_code": None,
            "error": None,
        }
        state.deliveries.append(record)
        with self._cond:
            self._jobs.append({"record": record, "pairs": pairs})
            self._pending += 1
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="bitrix24-events", daemon=True).start()
            self._cond.notify_all()
        return record

    # -- delivery thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._jobs:
                    self._cond.wait(timeout=1.0)
                if not self._jobs:
                    self._running = False
                    return
                job = self._jobs.popleft()
            try:
                self._send(job)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _send(self, job: dict[str, Any]) -> None:
        record = job["record"]
        if self.state.config.delivery_delay > 0:
            time.sleep(self.state.config.delivery_delay)
        try:
            response = self._session.post(
                record["handler"],
                data=job["pairs"],
                timeout=self.state.config.delivery_timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            return
        record["status_code"] = response.status_code
        record["status"] = "delivered" if 200 <= response.status_code < 300 else "failed"

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued POST was attempted (for tests and the e2e runner)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def drop_pending(self) -> None:
        with self._cond:
            self._pending -= len(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
