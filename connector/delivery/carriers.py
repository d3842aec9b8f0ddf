"""The carrier contract: what delivery asks of every carrier, and where it finds them.

A carrier is a system (connector/systems/<name>/) whose declaration names a `Carrier` as
`carrier=` (`"connector.systems.<name>.carrier:CARRIER"`). Delivery reads carriers only through
this contract and the registry, so a third carrier is one package: its client, its `carrier.py`,
its `system.py` (with the poll task `poll_task(name)` and a job for it) and its mappings.

    name         the system's name; a shipment link's `system`
    title        what people read ("CDEK", in the Bitrix24 timeline and the shop's note)
    pushes       whether it pushes status webhooks (the poll is then a backstop)
    idempotent   whether a retried `register` finds the parcel an unanswered attempt made; when
                 not, delivery writes a marker before the call and never calls twice blindly
    status_map   f(services) -> its code -> canonical shipment state map (`to_canonical`)
    register     f(services, order, rules) -> Registered (the parcel's id and what it is now)
    observe      f(services, open shipment links) -> (link, Observation | MappingError) for
                 each parcel it could read (a poll; the links are those not in a final state)
    cancel       f(services, shipment link) -> Observation of the cancelled parcel

Errors are those of connector/errors.py: a refusal is a `PermanentError`, a request that never
left is `connector.http.RequestNotSent`, anything else is retried.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from connector.errors import ConfigError, MappingError

if TYPE_CHECKING:
    from connector.delivery.rules import DeliveryRules
    from connector.delivery.shipments import Observation
    from connector.identity import Link
    from connector.services import Services
    from connector.systems.registry import Registry


class StatusMap(Protocol):
    """A carrier's status codes read as canonical shipment states (a mapping `ValueMap`)."""

    def to_canonical(self, value: Any) -> Any: ...


@dataclass(frozen=True)
class Registered:
    """A parcel the carrier took: its id there, and what the carrier says of it now (if known)."""

    external_id: str
    seen: Observation | None = None


@runtime_checkable
class Carrier(Protocol):
    """Registers a shipment, reads its statuses and cancels it (see the module docstring)."""

    name: str
    title: str
    pushes: bool
    idempotent: bool

    def status_map(self, services: Services) -> StatusMap: ...

    def register(
        self, services: Services, order: Mapping[str, Any], rules: DeliveryRules
    ) -> Registered: ...

    def observe(
        self, services: Services, shipments: list[Link]
    ) -> Iterable[tuple[Link, Observation | MappingError]]: ...

    def cancel(self, services: Services, shipment: Link) -> Observation: ...


def carriers_of(systems: Registry) -> Iterator[Carrier]:
    """Every carrier the registry declares, in its order."""
    from connector.systems.registry import resolve

    for system in systems:
        if system.carrier is not None:
            yield resolve(system.carrier)


def carrier_names(systems: Registry | None = None) -> tuple[str, ...]:
    """The names of the declared carriers (the registry found now when none is given)."""
    if systems is None:
        from connector.systems.registry import Registry

        systems = Registry.discover()
    return tuple(system.name for system in systems if system.carrier is not None)


def carrier(services: Services, name: str) -> Carrier:
    """The carrier of system `name` (ConfigError when that system is no carrier)."""
    from connector.systems.registry import resolve

    system = services.systems.get(name)
    if system.carrier is None:
        raise ConfigError(f"{name} is not a carrier (its system declares no `carrier=`)")
    found: Carrier = resolve(system.carrier)
    return found


def title_of(services: Services, name: str) -> str:
    """What people call a carrier ("Nova Poshta"); its name when it is not declared."""
    return services.systems.get(name).title or name if name in services.systems else name


# --------------------------------------------------------------------------- helpers for carriers


def recipient_name(order: Mapping[str, Any]) -> str:
    """The recipient as a carrier wants a name: first and last name, else the email."""
    name = " ".join(p for p in (order.get("first_name"), order.get("last_name")) if p)
    return name or str(order.get("email") or "Customer")


def grams(kg: Decimal) -> int:
    """A weight in kg as whole grams, at least 1."""
    return max(1, int((kg * 1000).to_integral_value(ROUND_HALF_UP)))
