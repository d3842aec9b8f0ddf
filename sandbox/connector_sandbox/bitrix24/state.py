"""Everything one sandbox portal remembers, kept on the Flask app (never at module level)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from .config import Bitrix24Config
from .limits import LeakyBucket, OperatingBudget

# Stages of the default deal funnel, as
# specs/bitrix24/responses/crm.status.list.DEAL_STAGE.response.json.
DEFAULT_DEAL_STAGES: tuple[tuple[str, str, int, str, str | None, str], ...] = (
    ("NEW", "New", 10, "#39A8EF", None, "process"),
    ("PREPARATION", "Document preparation", 20, "#2FC6F6", None, "process"),
    ("PREPAYMENT_INVOICE", "Prepayment invoice", 30, "#55D0E0", None, "process"),
    ("EXECUTING", "In progress", 40, "#47E4C2", None, "process"),
    ("FINAL_INVOICE", "Final invoice", 50, "#FFA900", None, "process"),
    ("WON", "Deal successful", 60, "#7BD500", "S", "success"),
    ("LOSE", "Deal failed", 70, "#FF5752", "F", "failure"),
    ("APOLOGY", "Failure reason analysis", 80, "#FF5752", "F", "apology"),
)
_SYSTEM_STAGES = {"NEW", "WON", "LOSE"}
REFERENCE_LISTS: dict[str, tuple[tuple[str, str], ...]] = {
    "SOURCE": (
        ("CALL", "Call"),
        ("EMAIL", "E-Mail"),
        ("WEB", "Website"),
        ("ADVERTISING", "Advertising"),
        ("PARTNER", "Existing client"),
        ("RECOMMENDATION", "By recommendation"),
        ("TRADE_SHOW", "Show/Exhibition"),
        ("WEBFORM", "CRM form"),
        ("CALLBACK", "Callback"),
        ("STORE", "Online store"),
        ("OTHER", "Other"),
    ),
    "CONTACT_TYPE": (
        ("CLIENT", "Clients"),
        ("SUPPLIER", "Suppliers"),
        ("PARTNER", "Partners"),
        ("OTHER", "Other"),
    ),
    "DEAL_TYPE": (
        ("SALE", "Sales"),
        ("COMPLEX", "Complex sale"),
        ("GOODS", "Merchandise sale"),
        ("SERVICES", "Service sale"),
        ("SERVICE", "After-sales service"),
    ),
    "HONORIFIC": (
        ("HNR_EN_1", "Mr."),
        ("HNR_EN_2", "Mrs."),
        ("HNR_EN_3", "Ms."),
        ("HNR_EN_4", "Dr."),
    ),
}


@dataclass
class Binding:
    """An event handler: bound by the app (event.bind) or an outgoing webhook made in the UI."""

    id: int
    event: str
    handler: str
    source: str  # "app" | "outgoing-webhook"
    application_token: str
    auth_type: int = 0
    offline: bool = False
    auth_connector: str = ""
    options: Any = None
    webhook_id: int | None = None


@dataclass
class Token:
    value: str
    expires_at: float
    user_id: int
    refresh: bool = False


@dataclass
class PortalState:
    """Contacts, deals and everything around them, plus auth, limits and event machinery data."""

    config: Bitrix24Config
    lock: threading.RLock = field(default_factory=threading.RLock)
    records: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    product_rows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    userfields: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    categories: dict[int, str] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    outgoing_webhooks: list[dict[str, Any]] = field(default_factory=list)
    offline_events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    access_tokens: dict[str, Token] = field(default_factory=dict)
    refresh_tokens: dict[str, Token] = field(default_factory=dict)
    auth_codes: dict[str, Token] = field(default_factory=dict)
    current_access_token: str = ""
    current_refresh_token: str = ""
    bucket: LeakyBucket = field(default_factory=lambda: LeakyBucket(50, 2.0))
    budgets: dict[tuple[str, str], OperatingBudget] = field(default_factory=dict)
    base_url: str = "http://127.0.0.1/"
    # what the portal was asked: HTTP requests to /rest/ by method (a batch is one), requests the
    # leaky bucket refused, and every method run (each command of a batch counts)
    requests: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    commands: dict[str, int] = field(default_factory=dict)
    _counters: dict[str, itertools.count] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to a freshly installed portal: empty CRM, one installed app, no handlers."""
        cfg = self.config
        with self.lock:
            self.records = {"contact": {}, "deal": {}}
            self.product_rows = {}
            self.userfields = []
            self.comments = []
            self.bindings = []
            self.outgoing_webhooks = []
            self.offline_events = []
            self.deliveries = []
            self.budgets = {}
            self.requests, self.refused, self.commands = {}, 0, {}
            self.bucket = LeakyBucket(cfg.rate_limit_burst, cfg.rate_limit_drain)
            self._counters = {}
            self.categories = {0: "General"}
            self.statuses = []
            self._seed_statuses()
            now = cfg.clock()
            self.access_tokens = {}
            self.refresh_tokens = {}
            self.auth_codes = {}
            self.issue_tokens(
                now, access=cfg.initial_access_token, refresh=cfg.initial_refresh_token
            )

    def next_id(self, counter: str, start: int = 1) -> int:
        if counter not in self._counters:
            self._counters[counter] = itertools.count(start)
        return next(self._counters[counter])

    def now(self) -> float:
        return self.config.clock()

    # -- reference data -------------------------------------------------------------------------

    def _seed_statuses(self) -> None:
        status_id = 100
        for code, name, sort, color, semantics, extra in DEFAULT_DEAL_STAGES:
            status_id += 1
            self.statuses.append(
                {
                    "ID": str(status_id),
                    "ENTITY_ID": "DEAL_STAGE",
                    "STATUS_ID": code,
                    "NAME": name,
                    "NAME_INIT": name if code in _SYSTEM_STAGES else "",
                    "SORT": str(sort),
                    "SYSTEM": "Y" if code in _SYSTEM_STAGES else "N",
                    "CATEGORY_ID": None,
                    "COLOR": color,
                    "SEMANTICS": semantics,
                    "EXTRA": {"SEMANTICS": extra, "COLOR": color},
                }
            )
            status_id += 1
        for entity, values in REFERENCE_LISTS.items():
            for sort, (code, name) in enumerate(values, start=1):
                status_id += 1
                self.statuses.append(
                    {
                        "ID": str(status_id),
                        "ENTITY_ID": entity,
                        "STATUS_ID": code,
                        "NAME": name,
                        "NAME_INIT": name,
                        "SORT": str(sort * 10),
                        "SYSTEM": "Y",
                        "CATEGORY_ID": None,
                        "COLOR": None,
                        "SEMANTICS": None,
                    }
                )

    def add_category(self, name: str) -> int:
        """A new deal funnel with stages ``C{n}:NEW`` ... ``C{n}:LOSE``."""
        category_id = max(self.categories) + 1
        self.categories[category_id] = name
        base = max(int(s["ID"]) for s in self.statuses)
        for offset, stage in enumerate(
            [s for s in self.statuses if s["ENTITY_ID"] == "DEAL_STAGE"], start=1
        ):
            copy = dict(stage, EXTRA=dict(stage["EXTRA"]))
            copy["ID"] = str(base + offset)
            copy["ENTITY_ID"] = f"DEAL_STAGE_{category_id}"
            copy["STATUS_ID"] = f"C{category_id}:{stage['STATUS_ID']}"
            copy["CATEGORY_ID"] = str(category_id)
            self.statuses.append(copy)
        return category_id

    def stages(self, category_id: int) -> list[dict[str, Any]]:
        entity = "DEAL_STAGE" if category_id == 0 else f"DEAL_STAGE_{category_id}"
        found = [s for s in self.statuses if s["ENTITY_ID"] == entity]
        return sorted(found, key=lambda s: int(s["SORT"]))

    # -- OAuth tokens ---------------------------------------------------------------------------

    def issue_tokens(
        self,
        now: float,
        access: str | None = None,
        refresh: str | None = None,
        make_current: bool = True,
    ) -> tuple[Token, Token]:
        """A new access + refresh pair; ``make_current`` makes it the app's own."""
        import secrets

        cfg = self.config
        access_token = Token(
            access or secrets.token_hex(16), now + cfg.access_token_lifetime, cfg.app_user_id
        )
        refresh_token = Token(
            refresh or secrets.token_hex(16),
            now + cfg.refresh_token_lifetime,
            cfg.app_user_id,
            refresh=True,
        )
        self.access_tokens[access_token.value] = access_token
        self.refresh_tokens[refresh_token.value] = refresh_token
        if make_current:
            self.current_access_token = access_token.value
            self.current_refresh_token = refresh_token.value
        return access_token, refresh_token
