"""One emulated portal: state, CRM, event bus, and the pipeline every REST call goes through.

The pipeline is the portal's: auth is settled by the caller (app.py), then the leaky bucket (one
count per HTTP request, so a batch counts once), the method's operating budget, the method, and the
``time`` block (specs/bitrix24/responses/time.full.json).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Any

from . import errors, timefmt
from .config import Bitrix24Config
from .crm import Crm
from .events import EventBus
from .limits import OperatingBudget
from .listing import Page
from .methods import method_table
from .state import PortalState

SCOPE_FREE_PREFIXES = (
    "batch",
    "event.",
    "events",
    "scope",
    "methods",
    "app.info",
    "profile",
    "server.time",
)


@dataclass
class Caller:
    """Who is calling: an inbound webhook or the OAuth app, as which user."""

    kind: str  # "webhook" | "oauth"
    user_id: int
    credential: str
    is_admin: bool = True

    @property
    def is_app(self) -> bool:
        return self.kind == "oauth"


@dataclass
class Call:
    """What a method handler gets: the portal, who calls, and the decoded parameters."""

    portal: Portal
    caller: Caller
    method: str
    params: dict[str, Any]

    @property
    def connector(self) -> str | None:
        """``auth_connector`` sent with a write: offline queues bound with it leave it out."""
        value = None
        for key, item in self.params.items():
            if str(key).lower() == "auth_connector":
                value = item
        return str(value) if value not in (None, "") else None


class Portal:
    """The sandbox portal behind one Flask app (``app.extensions["bitrix24"]``)."""

    def __init__(self, config: Bitrix24Config) -> None:
        self.config = config
        self.state = PortalState(config)
        self.bus = EventBus(self.state)
        self.crm = Crm(self.state, self.bus)
        self.methods = method_table()

    def reset(self) -> None:
        self.bus.drop_pending()
        self.state.reset()

    # -- the pipeline ---------------------------------------------------------------------------

    def take_request_slot(self, method: str = "") -> None:
        """The leaky bucket: one count per HTTP request to /rest/ (a batch is one request)."""
        state = self.state
        with state.lock:
            if not state.bucket.try_take(state.now()):
                state.refused += 1
                raise errors.query_limit_exceeded()
            name = method.lower()
            state.requests[name] = state.requests.get(name, 0) + 1

    def calls(self) -> dict[str, Any]:
        """Requests (by method; a batch counts once), refusals, and commands run (by method;
        each command of a batch counts, `batch` itself does not)."""
        state = self.state
        with state.lock:
            return {
                "requests": sum(state.requests.values()),
                "refused": state.refused,
                "commands": sum(state.commands.values()),
                "requests_by_method": dict(state.requests),
                "commands_by_method": dict(state.commands),
            }

    def call(self, caller: Caller, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one method (the request slot already taken); returns the response body."""
        with self.state.lock:
            handler = self.methods.get(method.lower())
            if handler is None:
                raise errors.method_not_found()
            if method.lower() != "batch":
                counts = self.state.commands
                counts[method.lower()] = counts.get(method.lower(), 0) + 1
            self._check_scope(method)
            budget = self._budget(caller, method)
            started = self.state.now()
            if budget is not None and budget.blocked(started):
                raise errors.operation_time_limit()
            tick = _time.perf_counter()
            outcome = handler(Call(self, caller, method.lower(), params))
            processing = _time.perf_counter() - tick
            finished = self.state.now()
            body: dict[str, Any] = {}
            if isinstance(outcome, Page):
                body["result"] = outcome.result
                if outcome.next is not None:
                    body["next"] = outcome.next
                if outcome.total is not None:
                    body["total"] = outcome.total
            else:
                body["result"] = outcome
            if budget is not None:
                cost = self.config.operating_costs.get(method.lower(), processing)
                budget.charge(finished, cost)
            body["time"] = self.time_block(started, finished, processing, budget)
            return body

    def _check_scope(self, method: str) -> None:
        lowered = method.lower()
        if lowered.startswith(SCOPE_FREE_PREFIXES):
            return
        scope = lowered.split(".", 1)[0]
        if scope not in self.config.scopes:
            raise errors.insufficient_scope()

    def _budget(self, caller: Caller, method: str) -> OperatingBudget | None:
        if method.lower() == "batch":
            return None  # "An external call to batch is not accounted for in operating" (limits.md)
        key = (caller.credential, method.lower())
        budget = self.state.budgets.get(key)
        if budget is None:
            budget = OperatingBudget(self.config.operating_limit, self.config.operating_window)
            self.state.budgets[key] = budget
        return budget

    def time_block(
        self,
        started: float,
        finished: float,
        processing: float,
        budget: OperatingBudget | None,
    ) -> dict[str, Any]:
        offset = self.config.utc_offset_hours
        block: dict[str, Any] = {
            "start": started,
            "finish": finished,
            "duration": max(finished - started, processing),
            "processing": processing,
            "date_start": timefmt.iso(started, offset),
            "date_finish": timefmt.iso(finished, offset),
        }
        if budget is not None:
            block["operating_reset_at"] = budget.reset_at(finished)
            block["operating"] = budget.used(finished)
        return block
