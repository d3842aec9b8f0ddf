"""Delivery rules admins edit (`mappings/delivery.yaml`): when an order ships, which carrier takes
it, and what each shipment state means. Checked with errors naming file:line:field.

The first carrier rule whose conditions all hold wins, else `default` (a carrier or `none`). The
carriers are the systems that declare one (connector/delivery/carriers.py): their names are the
values `carrier:` takes, and a top key of the same name holds the options sent to that carrier
(checked by the carrier's `option_problems` when it has one). The file is read with
`connector.mapping.loader`, which keeps the line of every key, so each problem points where the
admin has to look. Without the admin's file the bundled `mappings/delivery.yaml` applies.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connector.errors import MappingError, MappingsUnusable
from connector.mapping import loader
from connector.mapping.checker import RulesChecker
from connector.mapping.errors import MappingErrors, did_you_mean, format_error
from connector.model import ORDER_STATUSES, SHIPMENT_STATES

if TYPE_CHECKING:
    from connector.services import Services

RULES_FILE = "delivery.yaml"
# The bundled mappings folder (as `Services.mappings_path` falls back to it).
SHIPPED_RULES = os.path.join(os.path.dirname(__file__), "..", "..", "mappings", "delivery.yaml")
NO_CARRIER = "none"
LOYALTY_EVENTS = ("delivered", "returned")
CONDITIONS = ("country", "city", "delivery_type", "weight_min", "weight_max")
MEMBER_EVENT_MAX = 30  # Mailchimp event names are 2-30 characters
TOP_KEYS = (
    "ready_to_ship",
    "carriers",
    "default",
    "final_states",
    "order_status",
    "loyalty_events",
    "member_event_prefix",
    "parcel",
    "woocommerce",
    "cancel_shipment",
)
PARCEL_KEYS = ("default_weight_kg", "length_cm", "width_cm", "height_cm")
WOOCOMMERCE_KEYS = ("tracking_meta", "carrier_meta", "note")
CANCEL_KEYS = ("order_statuses", "states")


@dataclass(frozen=True)
class CarrierRule:
    """One line of the carrier choice: conditions on the order, and the carrier it gets."""

    carrier: str
    name: str = ""
    countries: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    delivery_types: frozenset[str] = frozenset()
    weight_min: Decimal | None = None
    weight_max: Decimal | None = None

    def matches(self, order: MappingABC[str, Any], default_weight: Decimal) -> bool:
        if self.countries and _upper(order.get("delivery_country")) not in self.countries:
            return False
        if self.cities and _fold(order.get("delivery_city")) not in self.cities:
            return False
        if self.delivery_types and _text(order.get("delivery_type")) not in self.delivery_types:
            return False
        weight = weight_of(order, default_weight)
        if self.weight_min is not None and weight < self.weight_min:
            return False
        return not (self.weight_max is not None and weight > self.weight_max)


@dataclass(frozen=True)
class DeliveryRules:
    """The rules in force; `DeliveryRules()` ships nothing (no carrier rule, no default)."""

    ready_statuses: frozenset[str] = frozenset({"processing"})
    ready_stages: tuple[str, ...] = ()
    carriers: tuple[CarrierRule, ...] = ()
    default: str = NO_CARRIER
    final_states: frozenset[str] = frozenset({"delivered", "returned", "lost", "cancelled"})
    order_status: dict[str, str] = field(default_factory=dict)
    loyalty_events: dict[str, str] = field(default_factory=dict)
    member_event_prefix: str = "shipment_"
    default_weight_kg: Decimal = Decimal("1")
    box_cm: tuple[int, int, int] = (20, 15, 10)
    woocommerce: dict[str, Any] = field(default_factory=dict)
    # carrier name -> what its top key holds (sent to that carrier as it reads them)
    carrier_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # an order reaching one of these statuses cancels its shipment while the parcel is in one
    # of `cancel_states` (not yet handed over to the carrier)
    cancel_statuses: frozenset[str] = frozenset({"cancelled"})
    cancel_states: frozenset[str] = frozenset({"created"})
    file: str | None = None

    def options_for(self, carrier: str) -> dict[str, Any]:
        """The options the rules give a carrier (its top key), empty when none."""
        return dict(self.carrier_options.get(carrier) or {})

    def choose_carrier(self, order: MappingABC[str, Any]) -> tuple[str, str]:
        """(carrier or "none", the rule's name) for an order: first matching rule, else default."""
        for index, rule in enumerate(self.carriers):
            if rule.matches(order, self.default_weight_kg):
                return rule.carrier, rule.name or f"rule {index + 1}"
        return self.default, "default"

    def member_event(self, state: str) -> str:
        return f"{self.member_event_prefix}{state}"


def weight_of(order: MappingABC[str, Any], default: Decimal) -> Decimal:
    """The parcel's weight in kg: the order's, else the rules' default."""
    try:
        weight = Decimal(str(order.get("delivery_weight")))
    except (InvalidOperation, ValueError):
        return default
    return weight if weight.is_finite() and weight > 0 else default


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _upper(value: Any) -> str:
    return _text(value).upper()


def _fold(value: Any) -> str:
    return _text(value).casefold()


# --------------------------------------------------------------------------- loading


def rules_path(mappings_dir: str | os.PathLike[str] | None) -> str:
    """The admin's file when it exists, else the shipped defaults."""
    if mappings_dir is not None:
        candidate = os.path.join(os.fspath(mappings_dir), RULES_FILE)
        if os.path.isfile(candidate):
            return candidate
    return SHIPPED_RULES


def rules_for(services: Services) -> DeliveryRules:
    """The rules in force for these services (re-read when the file changes)."""
    from connector.delivery.carriers import carrier_names

    path = rules_path(getattr(services, "mappings_path", None))
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = 0
    systems = getattr(services, "systems", None)
    try:
        return _cached(path, stamp, carrier_names(systems))
    except MappingErrors as errors:  # the admin's edit broke the file: wait for the fix
        raise MappingsUnusable(
            f"the delivery rules are invalid ({format_error(errors.errors[0])}); waiting",
            60.0,
            errors.errors,
        ) from None


@functools.lru_cache(maxsize=8)
def _cached(path: str, stamp: int, carriers: tuple[str, ...]) -> DeliveryRules:
    return load_rules(path, carriers)


def load_rules(path: str, carriers: Iterable[str] | None = None) -> DeliveryRules:
    """Reads and checks a rules file; raises MappingErrors listing every problem. `carriers`:
    the carrier names it may use (default: every carrier the registry declares)."""
    rules, errors = check_rules_file(path, carriers)
    if errors or rules is None:
        raise MappingErrors(errors)
    return rules


def validate_rules_file(path: str) -> list[MappingError]:
    """Every problem of a rules file (for `connector mappings validate`); empty when valid."""
    return check_rules_file(path)[1]


def _known_carriers(names: Iterable[str] | None) -> dict[str, Any]:
    """Carrier name -> its `Carrier` (None for a name the discovered registry does not know)."""
    from connector.delivery.carriers import carriers_of
    from connector.systems.registry import Registry

    found = {carrier.name: carrier for carrier in carriers_of(Registry.discover())}
    return found if names is None else {name: found.get(name) for name in names}


def check_rules_file(
    path: str, carriers: Iterable[str] | None = None
) -> tuple[DeliveryRules | None, list[MappingError]]:
    display = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    document, errors = loader.read(path, display)
    if document is None or errors:
        return None, errors
    checker = _Checker(document, _known_carriers(carriers))
    rules = checker.rules()
    return (None if checker.errors else rules), checker.errors


class _Checker(RulesChecker):
    """Walks delivery.yaml, collecting a located error for each problem instead of stopping."""

    def __init__(self, document: loader.Document, carriers: dict[str, Any]) -> None:
        super().__init__(document, "delivery")
        self.carriers = carriers
        self.names = tuple(carriers)

    def strings(self, value: Any, location: tuple[Any, ...]) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str | int):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            self.fail(location, "must be a list of names")
            return []
        return [str(v).strip() for v in value]

    def choice(self, value: Any, location: tuple[Any, ...], allowed: tuple[str, ...]) -> bool:
        if value not in allowed:
            self.fail(
                location,
                f"unknown value {value!r}{did_you_mean(str(value), allowed)}; one of "
                f"{', '.join(allowed)}",
            )
            return False
        return True

    def number(self, value: Any, location: tuple[Any, ...]) -> Decimal | None:
        if value is None:
            return None
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            number = None
        if isinstance(value, bool) or number is None or not number.is_finite() or number < 0:
            self.fail(location, f"must be a number of 0 or more, not {value!r}")
            return None
        return number

    # -- the file -------------------------------------------------------------------------

    def rules(self) -> DeliveryRules:
        data = self.document.data
        if not isinstance(data, dict) or "delivery" not in data:
            self.fail((), "a delivery rules file starts with `delivery:`")
            return DeliveryRules()
        self.mapping(data, (), ("delivery",))
        top = self.mapping(data["delivery"], ("delivery",), (*TOP_KEYS, *self.names))
        at = ("delivery",)
        ready = self.mapping(
            top.get("ready_to_ship"), (*at, "ready_to_ship"), ("statuses", "bitrix24_stages")
        )
        statuses = self.strings(ready.get("statuses"), (*at, "ready_to_ship", "statuses"))
        for index, status in enumerate(statuses):
            self.choice(status, (*at, "ready_to_ship", "statuses", index), ORDER_STATUSES)
        stages = self.strings(
            ready.get("bitrix24_stages"), (*at, "ready_to_ship", "bitrix24_stages")
        )
        carriers = self.carrier_rules(top.get("carriers"), (*at, "carriers"))
        default = top.get("default", NO_CARRIER)
        self.choice(default, (*at, "default"), (*self.names, NO_CARRIER))
        finals = self.states(top.get("final_states"), (*at, "final_states"))
        order_status = self.state_table(
            top.get("order_status"), (*at, "order_status"), ORDER_STATUSES
        )
        loyalty = self.state_table(
            top.get("loyalty_events"), (*at, "loyalty_events"), LOYALTY_EVENTS
        )
        prefix = top.get("member_event_prefix", "shipment_")
        longest = max(len(s) for s in SHIPMENT_STATES)
        if not isinstance(prefix, str) or not prefix or len(prefix) + longest > MEMBER_EVENT_MAX:
            self.fail(
                (*at, "member_event_prefix"),
                f"must be text of 1-{MEMBER_EVENT_MAX - longest} characters "
                f"(Mailchimp event names have at most {MEMBER_EVENT_MAX})",
            )
        parcel = self.mapping(top.get("parcel"), (*at, "parcel"), PARCEL_KEYS)
        sizes = {k: self.number(parcel.get(k), (*at, "parcel", k)) for k in PARCEL_KEYS}
        woocommerce = self.mapping(top.get("woocommerce"), (*at, "woocommerce"), WOOCOMMERCE_KEYS)
        options = {name: self.carrier_options(name, top.get(name)) for name in self.names}
        cancel = self.mapping(top.get("cancel_shipment"), (*at, "cancel_shipment"), CANCEL_KEYS)
        cancel_statuses = self.strings(
            cancel.get("order_statuses"), (*at, "cancel_shipment", "order_statuses")
        )
        for index, status in enumerate(cancel_statuses):
            self.choice(status, (*at, "cancel_shipment", "order_statuses", index), ORDER_STATUSES)
        cancel_states = self.states(cancel.get("states"), (*at, "cancel_shipment", "states"))
        return DeliveryRules(
            ready_statuses=frozenset(statuses),
            ready_stages=tuple(stages),
            carriers=tuple(carriers),
            default=str(default),
            final_states=frozenset(finals)
            if "final_states" in top
            else DeliveryRules().final_states,
            order_status=order_status,
            loyalty_events=loyalty,
            member_event_prefix=str(prefix),
            default_weight_kg=sizes["default_weight_kg"] or Decimal("1"),
            box_cm=tuple(
                int(sizes[k] or d) for k, d in zip(PARCEL_KEYS[1:], (20, 15, 10), strict=True)
            ),  # type: ignore[arg-type]
            woocommerce={
                "tracking_meta": "_tracking_number",
                "carrier_meta": "_tracking_carrier",
                "note": True,
            }
            | woocommerce,
            carrier_options={name: value for name, value in options.items() if value},
            cancel_statuses=frozenset(cancel_statuses)
            if "order_statuses" in cancel
            else DeliveryRules().cancel_statuses,
            cancel_states=frozenset(cancel_states)
            if "states" in cancel
            else DeliveryRules().cancel_states,
            file=self.document.file,
        )

    def carrier_options(self, name: str, value: Any) -> dict[str, Any]:
        """A carrier's top key: a mapping, checked by the carrier when it says how."""
        at = ("delivery", name)
        options = self.mapping(value, at, ())
        check = getattr(self.carriers.get(name), "option_problems", None)
        if options and check is not None:
            for key, message in check(options):
                self.fail((*at, key), message)
        return dict(options)

    def states(self, value: Any, location: tuple[Any, ...]) -> list[str]:
        names = self.strings(value, location)
        for index, name in enumerate(names):
            self.choice(name, (*location, index), SHIPMENT_STATES)
        return names

    def state_table(
        self, value: Any, location: tuple[Any, ...], allowed: tuple[str, ...]
    ) -> dict[str, str]:
        table = self.mapping(value, location, SHIPMENT_STATES)
        good = {}
        for state, target in table.items():
            if state in SHIPMENT_STATES and self.choice(target, (*location, state), allowed):
                good[str(state)] = str(target)
        return good

    def carrier_rules(self, value: Any, location: tuple[Any, ...]) -> list[CarrierRule]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(location, "must be a list of rules (- carrier: ..., when: {...})")
            return []
        found = []
        for index, raw in enumerate(value):
            at = (*location, index)
            item = self.mapping(raw, at, ("name", "carrier", "when"))
            if not item:
                if raw is not None and isinstance(raw, dict):
                    self.fail(at, "a rule needs `carrier:`")
                continue
            if "carrier" not in item:
                self.fail(at, f"a rule needs `carrier:` ({', '.join(self.names)} or none)")
                continue
            if not self.choice(item["carrier"], (*at, "carrier"), (*self.names, NO_CARRIER)):
                continue
            when = self.mapping(item.get("when"), (*at, "when"), CONDITIONS)
            countries = self.strings(when.get("country"), (*at, "when", "country"))
            for number, code in enumerate(countries):
                if len(code) != 2 or not code.isalpha():
                    self.fail(
                        (*at, "when", "country", number),
                        f"{code!r} is not an ISO country code (UA, KZ)",
                    )
            low = self.number(when.get("weight_min"), (*at, "when", "weight_min"))
            high = self.number(when.get("weight_max"), (*at, "when", "weight_max"))
            if low is not None and high is not None and low > high:
                self.fail((*at, "when", "weight_min"), "weight_min is above weight_max")
            found.append(
                CarrierRule(
                    carrier=str(item["carrier"]),
                    name=str(item.get("name") or ""),
                    countries=frozenset(c.upper() for c in countries),
                    cities=frozenset(
                        c.casefold() for c in self.strings(when.get("city"), (*at, "when", "city"))
                    ),
                    delivery_types=frozenset(
                        self.strings(when.get("delivery_type"), (*at, "when", "delivery_type"))
                    ),
                    weight_min=low,
                    weight_max=high,
                )
            )
        return found
