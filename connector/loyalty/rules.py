"""Loyalty rules admins edit (`mappings/loyalty.yaml`), checked with errors naming file:line:field.

Every number an admin may want to change lives here, never in code: the accrual percent (per tier),
how long bonuses stay pending (until delivery plus a return window, the Open Loyalty "points are
locked for N days" idea, research/shop_delivery_loyalty.md §5.1), the share of an order payable with
bonuses, hold time-out, expiry after N days (FEFO lots, §5.3), reminders and card numbers.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from connector.config import Settings, mappings_folder
from connector.errors import MappingError, MappingsUnusable
from connector.mapping import loader

RULES_FILE = "loyalty.yaml"
# The bundled mappings folder (as `Services.mappings_path` falls back to it).
SHIPPED_RULES = os.path.join(os.path.dirname(__file__), "..", "..", "mappings", "loyalty.yaml")


@dataclass(frozen=True)
class LoyaltyRules:
    """The rules in force; `LoyaltyRules()` are the defaults used when the file is absent."""

    accrual_percent: Decimal = Decimal("5")
    tier_percents: dict[str, Decimal] = field(default_factory=dict)
    accrue_on: str = "paid_amount"  # paid_amount (money paid) | total (money + bonuses spent)
    points_decimals: int = 0
    pending_until: str = "delivered"  # delivered | paid
    return_window_days: float = 14.0
    max_share_percent: Decimal = Decimal("30")
    hold_timeout_minutes: float = 60.0
    expiry_days: float = 365.0  # 0 = bonuses never expire
    remind_days_before: float = 7.0
    card_prefix: str = "77"
    card_length: int = 13
    coalesce_seconds: float = 5.0

    def percent_for(self, tier: str | None) -> Decimal:
        """The accrual percent of a tier; the base percent for no tier or an unknown one."""
        return self.tier_percents.get(tier or "", self.accrual_percent)

    @property
    def points_step_cents(self) -> int:
        """The smallest amount of points, in hundredths: 100 for whole points."""
        return 10 ** (2 - self.points_decimals)


# -- the file's schema ------------------------------------------------------------------------


class _Strict(Schema):
    class Meta:
        unknown = RAISE


_PERCENT = validate.Range(min=0, max=100)
_DAYS = validate.Range(min=0)


class _AccrualSchema(_Strict):
    percent = fields.Decimal(required=True, validate=_PERCENT)
    tiers = fields.Dict(keys=fields.Str(), values=fields.Decimal(validate=_PERCENT))
    base = fields.Str(validate=validate.OneOf(["paid_amount", "total"]))


class _PendingSchema(_Strict):
    until = fields.Str(validate=validate.OneOf(["delivered", "paid"]))
    return_window_days = fields.Float(validate=_DAYS)


class _SpendingSchema(_Strict):
    max_share_percent = fields.Decimal(validate=_PERCENT)
    hold_timeout_minutes = fields.Float(validate=validate.Range(min=1))


class _ExpirySchema(_Strict):
    days = fields.Float(validate=_DAYS)
    remind_days_before = fields.Float(validate=_DAYS)


class _CardsSchema(_Strict):
    prefix = fields.Str(validate=validate.Regexp(r"^[0-9]{0,8}$", error="digits only, 8 at most"))
    length = fields.Int(validate=validate.Range(min=8, max=19))


class _PublishSchema(_Strict):
    coalesce_seconds = fields.Float(validate=validate.Range(min=0, max=3600))


class _LoyaltySchema(_Strict):
    points_decimals = fields.Int(validate=validate.OneOf([0, 1, 2]))
    accrual = fields.Nested(_AccrualSchema, required=True)
    pending = fields.Nested(_PendingSchema)
    spending = fields.Nested(_SpendingSchema)
    expiry = fields.Nested(_ExpirySchema)
    cards = fields.Nested(_CardsSchema)
    publish = fields.Nested(_PublishSchema)


class RulesFileSchema(_Strict):
    """`mappings/loyalty.yaml`: one top-level key `loyalty`."""

    loyalty = fields.Nested(_LoyaltySchema, required=True)


def _rules_from(data: dict[str, Any]) -> LoyaltyRules:
    section = data["loyalty"]
    accrual = section["accrual"]
    pending = section.get("pending", {})
    spending = section.get("spending", {})
    expiry = section.get("expiry", {})
    cards = section.get("cards", {})
    defaults = LoyaltyRules()
    return LoyaltyRules(
        accrual_percent=accrual["percent"],
        tier_percents=dict(accrual.get("tiers") or {}),
        accrue_on=accrual.get("base", defaults.accrue_on),
        points_decimals=section.get("points_decimals", defaults.points_decimals),
        pending_until=pending.get("until", defaults.pending_until),
        return_window_days=pending.get("return_window_days", defaults.return_window_days),
        max_share_percent=spending.get("max_share_percent", defaults.max_share_percent),
        hold_timeout_minutes=spending.get("hold_timeout_minutes", defaults.hold_timeout_minutes),
        expiry_days=expiry.get("days", defaults.expiry_days),
        remind_days_before=expiry.get("remind_days_before", defaults.remind_days_before),
        card_prefix=cards.get("prefix", defaults.card_prefix),
        card_length=cards.get("length", defaults.card_length),
        coalesce_seconds=section.get("publish", {}).get(
            "coalesce_seconds", defaults.coalesce_seconds
        ),
    )


def _flatten(messages: Any, location: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(messages, dict):
        return [item for k, v in messages.items() for item in _flatten(v, (*location, k))]
    if isinstance(messages, list):
        found: list[tuple[tuple[Any, ...], str]] = []
        for message in messages:
            found += (
                _flatten(message, location)
                if isinstance(message, dict | list)
                else [(location, str(message))]
            )
        return found
    return [(location, str(messages))]


def check_rules_file(path: str) -> tuple[LoyaltyRules | None, list[MappingError]]:
    """Reads and checks the rules file: (rules or None, every problem found)."""
    display = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    document, errors = loader.read(path, display)
    if document is None or errors:
        return None, errors
    if not isinstance(document.data, dict):
        return None, [MappingError("the rules file must be a YAML mapping", display, 1)]
    try:
        data = RulesFileSchema().load(document.data)
    except ValidationError as error:
        problems = []
        for location, message in _flatten(error.messages):
            if len(location) >= 3 and location[-3] == "tiers" and location[-1] in ("key", "value"):
                location = location[:-1]  # marshmallow's Dict says which half of the pair
            name = ".".join(str(part) for part in location) or None
            if message == "Unknown field.":
                message = f"unknown key {str(location[-1])!r}"
            elif message == "Missing data for required field.":
                message = f"missing required key {str(location[-1])!r}"
            problems.append(MappingError(message, display, document.line(location), name))
        return None, sorted(problems, key=lambda e: e.line or 0)
    rules = _rules_from(data)
    if len(rules.card_prefix) >= rules.card_length - 1:
        line = document.line(("loyalty", "cards", "prefix"))
        return None, [
            MappingError("prefix leaves no room for the number", display, line, "cards.prefix")
        ]
    return rules, []


def validate_rules_file(path: str) -> list[MappingError]:
    """Every problem of the rules file, for `connector mappings validate` (empty when valid)."""
    return check_rules_file(path)[1]


def rules_path(mappings_dir: str | None = None) -> str:
    """`<mappings_dir>/loyalty.yaml` when the admin has one, else the bundled one."""
    admin = os.path.join(mappings_folder(mappings_dir), RULES_FILE)
    return admin if os.path.exists(admin) else SHIPPED_RULES


def load_rules(path: str | None = None, mappings_dir: str | None = None) -> LoyaltyRules:
    """The rules from `path` (or the file `rules_path` picks); the defaults if it is missing.

    Raises `MappingError` (the first problem) when the file exists but is invalid.
    """
    path = path or rules_path(mappings_dir)
    if not os.path.exists(path):
        return LoyaltyRules()
    rules, errors = check_rules_file(path)
    if rules is None:
        raise errors[0]
    return rules


def rules_for(settings: Settings) -> LoyaltyRules:
    """The rules of the running connector (`CONNECTOR_MAPPINGS_DIR/loyalty.yaml`), re-read
    when the file changes."""
    path = rules_path(getattr(settings, "mappings_dir", None))
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        changed = 0
    try:
        return _cached_rules(path, changed)
    except MappingError as error:  # the admin's edit broke the file: wait for the fix, never die
        raise MappingsUnusable(
            f"the loyalty rules are invalid ({error}); waiting for the fix", 60.0, [error]
        ) from None


@functools.lru_cache(maxsize=16)
def _cached_rules(path: str, changed: int) -> LoyaltyRules:
    return load_rules(path)
