"""What the connector knows of each external system, declared once per system, found in one place.

A system is one package under `connector/systems/<name>/` whose `system.py` declares
`SYSTEM = System(...)`: its settings, whether it is configured, its client, its webhook routes,
its task handlers, its polling streams and scheduled jobs, its `connector setup` step, the
canonical entities it receives (one push task kind each: fan-out is driven by this) and sends,
and its line in `connector status`. The core reads the `Registry`, never a list of names:
`Services.enabled()` and the client accessors, the hub's fan-out and push ordering keys, the
task registry, polling, the scheduler, `connector status` and `connector setup`.

Where the registry finds systems:

- the built-in ones, listed once in `BUILT_IN` below (the only edit a new in-tree system makes
  outside its own package);
- every entry point of the group `connector.systems` (`importlib.metadata`), so that a package
  installed beside the connector adds a system with no edit here:

      [project.entry-points."connector.systems"]
      kaspi = "connector_kaspi.system:SYSTEM"

Declarations stay cheap to import: anything heavy (a blueprint, a handler, a stream) is named by
a `"module:attribute"` reference (or built inside a function) and imported on first use, so
discovering the systems imports no flow and no handler (only what each package's `__init__`
imports). Example (connector/systems/kaspi/system.py):

    from connector.systems.kaspi.settings import KaspiSettings
    from connector.systems.registry import System, all_set

    SYSTEM = System(
        name="kaspi",
        title="Kaspi.kz",
        settings=KaspiSettings,        # settings.py: CONNECTOR_KASPI_URL, _TOKEN, ...
        configured=all_set("kaspi_token"),
        client="connector.systems.kaspi.client:client_from_services",   # f(services) -> client
        task_handlers={"kaspi.order": "connector.systems.kaspi.flows:kaspi_order"},
        streams={"orders": "connector.systems.kaspi.polling:order_stream"},  # f(services, opts)
        jobs="connector.systems.kaspi.jobs:JOBS",                            # list[jobs.Job]
        sends={"order", "customer"},
        receives={"order"},            # -> push task "push.kaspi.order", key "order:kaspi:{id}"
    )

Its settings are a `connector.config.SystemSettings` class in its package, read typed through
`settings.of(KaspiSettings)`; config gathers every registered system's into the one settings
source. A system that takes webhooks names its routes, a blueprint made by
`webhooks.intake_blueprint` (`blueprint="connector.systems.<name>.routes:blueprint"`), which
the web app mounts.

A system that receives an entity gets a push task of kind `receives[entity]` (default
`push.<system>.<entity>`) whenever the hub's entity changes from another system, with the
ordering key `keys.record(<ordering entity>, <system>, <id>)`; `push_ordering` names the
ordering entity of a kind whose records are not its last word (`push.bitrix24.balance` orders
with the contact). `push_after` names what a record's push waits for: Bitrix24's deal names its
contact, so an order's push whose customer has no contact yet is enqueued to wait, and the
contact's push wakes it once it links the contact. A `linked_only` system is told only about
records it already holds (a shop is never sent another channel's customers): its push payload
carries the canonical id under `cid` (customers) or `oid` (orders) and the task targets the
system's own id.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector import keys
from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.config import Setting, Settings, SystemSettings
    from connector.services import Services

log = logging.getLogger("connector.systems")

ENTRY_POINT_GROUP = "connector.systems"

# The systems that ship with the connector, in fan-out order: "module:attribute" of each SYSTEM.
BUILT_IN: tuple[str, ...] = (
    "connector.systems.bitrix24.system:SYSTEM",
    "connector.systems.mailchimp.system:SYSTEM",
    "connector.systems.woocommerce.system:SYSTEM",
    "connector.systems.shop.system:SYSTEM",
    "connector.systems.cdek.system:SYSTEM",
    "connector.systems.novaposhta.system:SYSTEM",
    "connector.systems.kaspi.system:SYSTEM",
    "connector.systems.mandrill.system:SYSTEM",
    "connector.systems.smsru.system:SYSTEM",
    "connector.systems.twilio.system:SYSTEM",
    "connector.systems.telegram.system:SYSTEM",
    "connector.systems.whatsapp.system:SYSTEM",
)

Ref = Any  # an object, or "module:attribute" naming it (imported on first use)


def resolve(ref: Ref) -> Any:
    """The object a reference names (`"package.module:attr"`), or the object itself."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attribute = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        target = getattr(target, part)
    return target


def any_set(*names: str) -> Callable[[Settings], bool]:
    """`configured`: true when at least one of these settings has a value."""
    return lambda settings: any(getattr(settings, name, None) for name in names)


def all_set(*names: str) -> Callable[[Settings], bool]:
    """`configured`: true when every one of these settings has a value."""
    return lambda settings: all(getattr(settings, name, None) for name in names)


def payload_record(*entities: str) -> Callable[[str, Mapping[str, Any]], Any]:
    """`trace`: the task `<system>.<entity>` is about the record `payload["id"]` (or
    `payload["data"]["id"]`) of that entity, for these entities."""

    def record(kind: str, payload: Mapping[str, Any]) -> tuple[str, str] | None:
        entity = kind.partition(".")[2]
        if entity not in entities:
            return None
        record_id = payload.get("id")
        if record_id is None and isinstance(payload.get("data"), Mapping):
            record_id = payload["data"].get("id")
        return (entity, str(record_id)) if record_id is not None else None

    return record


@dataclass(frozen=True)
class System:
    """Everything the core needs to know of one external system (see the module docstring)."""

    name: str
    title: str = ""
    # its own settings: a connector.config.SystemSettings class declared in its package
    # (`CONNECTOR_<PREFIX>_*`, gathered by config into the one settings source), or the names
    # of core entries of connector.config.SETTINGS
    settings: type[SystemSettings] | tuple[str, ...] = ()
    # whether it is configured: its flows, jobs and pushes run only then
    configured: Callable[[Settings], bool] = lambda settings: False
    # f(services) -> client; `services.<name>` and `services.client(name)` build it once
    client: Ref | None = None
    # a Flask blueprint (or f() -> blueprint) of its webhook routes, mounted by the web app
    blueprint: Ref | None = None
    # task kind -> handler(ctx, payload)
    task_handlers: Mapping[str, Ref] = field(default_factory=dict)
    # polling stream name -> f(services, options) -> connector.sync.streams.Stream
    streams: Mapping[str, Ref] = field(default_factory=dict)
    # `connector sync --full`: stream name -> f(services, since) -> Stream, in the order they
    # run (the records others refer to first), and f(stream, moment) -> the polling cursor that
    # starts where a full sync begun at `moment` left off
    full_sync: Mapping[str, Ref] = field(default_factory=dict)
    polling_cursor: Ref | None = None
    # a list of jobs.Job (or f() -> list) the scheduler runs while the system is configured
    jobs: Ref | None = None
    # `connector setup NAME`: f(settings, **options) -> lines to print
    setup: Ref | None = None
    # canonical entity -> push task kind (a set of entities means `push.<name>.<entity>`)
    receives: Mapping[str, str] | Iterable[str] = field(default_factory=dict)
    # canonical entities it is a source of
    sends: frozenset[str] | Iterable[str] = frozenset()
    # push kind -> the entity its ordering key names, when not the kind's last word
    push_ordering: Mapping[str, str] = field(default_factory=dict)
    # entity -> the entity its records name, which must be linked here first (a deal names
    # its contact): a push of a record whose parent is not linked yet is enqueued to wait,
    # and the parent's push wakes it (`Queue.wake`) instead of it running once for nothing
    push_after: Mapping[str, str] = field(default_factory=dict)
    # told only about records it already holds (a shop): see the module docstring
    linked_only: bool = False
    # a sales channel: its customer edits yield to the owners the mappings name (`owner:`)
    sales_channel: bool = False
    # the push kind of each entity it receives (`receives` normalised; set after init)
    push_of: dict[str, str] = field(init=False, default_factory=dict)
    # f(services) -> its line in `connector status` (default: "on" / "off")
    status: Ref | None = None
    # f(kind, payload) -> (entity, id) | None: the record of this system an inbound task of it
    # is about, in the terms of `links` (`connector trace` finds a customer's events by it)
    trace: Ref | None = None
    # f(demo, story, number) -> None: its chapter of `connector demo`, told after the shared
    # story while the system is configured (the sandbox configures every system)
    demo: Ref | None = None
    # a carrier (connector.delivery.carriers.Carrier): registers, tracks and cancels parcels
    carrier: Ref | None = None
    # a message channel (connector.cascades.channels.Channel): sends the steps of cascades
    channel: Ref | None = None
    # a copy of the catalogue (connector/catalogue): f(services) -> the differences of its copy
    # from the master (connector.catalogue.diff.Difference); a copy rendered from the catalogue
    # on every read, as a price-list feed, declares "connector.catalogue.diff:rendered"
    catalogue_copy: Ref | None = None
    # f(engine) -> the last check of its webhooks at the system (a dict, None before the first
    # one): `connector status` shows it under "webhooks" while the system is configured
    webhook_check: Ref | None = None

    def __post_init__(self) -> None:
        receives = self.receives
        if not isinstance(receives, Mapping):
            receives = {entity: f"push.{self.name}.{entity}" for entity in sorted(receives)}
        object.__setattr__(self, "receives", dict(receives))
        object.__setattr__(self, "push_of", dict(receives))
        object.__setattr__(self, "sends", frozenset(self.sends))

    # -- reading the declaration ---------------------------------------------------------

    def is_configured(self, settings: Settings) -> bool:
        return bool(self.configured(settings))

    @property
    def settings_group(self) -> type[SystemSettings] | None:
        """Its settings class, when it declares one (else its settings are core entries)."""
        return self.settings if isinstance(self.settings, type) else None

    def setting_entries(self) -> list[Setting]:
        """Its variables (name, default, help, secret)."""
        if isinstance(self.settings, type):
            return list(self.settings.entries())
        from connector.config import SETTINGS

        wanted = set(self.settings)
        return [setting for setting in SETTINGS if setting.name in wanted]

    def build_client(self, services: Services) -> Any:
        if self.client is None:
            raise ConfigError(f"{self.name} has no client")
        if not self.is_configured(services.settings):
            raise ConfigError(
                f"{self.name} is not configured (see CONNECTOR_{self.name.upper()}_*)"
            )
        return resolve(self.client)(services)

    def handlers(self) -> dict[str, Any]:
        return {kind: resolve(handler) for kind, handler in self.task_handlers.items()}

    def job_list(self) -> list[Any]:
        if self.jobs is None:
            return []
        found = resolve(self.jobs)
        return list(found() if callable(found) else found)

    def push_kinds(self) -> list[str]:
        return [*self.push_of.values(), *self.push_ordering]

    def ordering_key(self, kind: str, target_id: Any) -> str:
        """The ordering key of push task `kind` for the system's record `target_id`."""
        entity = self.push_ordering.get(kind) or kind.rsplit(".", 1)[-1]
        return keys.record(entity, self.name, target_id)

    def task_record(self, kind: str, payload: Mapping[str, Any]) -> tuple[str, str] | None:
        """(entity, id) of the record an inbound task is about (its `trace`), else None."""
        return resolve(self.trace)(kind, payload) if self.trace is not None else None

    def status_line(self, services: Services) -> str:
        if self.status is not None:
            return str(resolve(self.status)(services))
        return "on" if self.is_configured(services.settings) else "off"


class Registry:
    """The systems the connector knows, by name, in fan-out order."""

    def __init__(self, systems: Iterable[System]) -> None:
        self._systems: dict[str, System] = {}
        for system in systems:
            if system.name in self._systems:
                log.warning("system %s declared twice: the first declaration wins", system.name)
                continue
            self._systems[system.name] = system
        self._push_owner = {
            kind: system for system in self._systems.values() for kind in system.push_kinds()
        }

    @classmethod
    def discover(
        cls,
        entry_points: Callable[..., Iterable[Any]] | None = None,
        built_in: Iterable[str] = BUILT_IN,
    ) -> Registry:
        """The built-in systems, then those of the `connector.systems` entry points."""
        found = [resolve(ref) for ref in built_in]
        read = entry_points or importlib.metadata.entry_points
        for point in read(group=ENTRY_POINT_GROUP):
            try:
                system = point.load()
            except Exception as error:  # noqa: BLE001 - a broken plug-in must not stop the rest
                log.error("system entry point %s could not be loaded: %s", point.name, error)
                continue
            found.append(
                system() if callable(system) and not isinstance(system, System) else system
            )
        return cls(found)

    def __iter__(self) -> Iterator[System]:
        return iter(self._systems.values())

    def __contains__(self, name: object) -> bool:
        return name in self._systems

    def names(self) -> list[str]:
        return list(self._systems)

    def get(self, name: str) -> System:
        try:
            return self._systems[name]
        except KeyError:
            raise ConfigError(
                f"unknown system {name!r} (known: {', '.join(self._systems)})"
            ) from None

    def enabled(self, name: str, settings: Settings) -> bool:
        system = self._systems.get(name)
        return system is not None and system.is_configured(settings)

    def receivers(self, entity: str) -> list[tuple[System, str]]:
        """(system, push kind) of every system that receives `entity`, in fan-out order."""
        return [(s, s.push_of[entity]) for s in self._systems.values() if entity in s.push_of]

    def push_key(self, kind: str, target_id: Any) -> str:
        """The ordering key of push task `kind` for target record `target_id`."""
        try:
            system = self._push_owner[kind]
        except KeyError:
            raise ConfigError(f"no system declares the push kind {kind!r}") from None
        return system.ordering_key(kind, target_id)

    def with_setup(self) -> list[str]:
        return [system.name for system in self if system.setup is not None]

    def catalogue_copies(self) -> list[str]:
        """The systems that hold a copy of the catalogue, in fan-out order."""
        return [system.name for system in self if system.catalogue_copy is not None]

    def sales_channels(self) -> set[str]:
        return {system.name for system in self if system.sales_channel}
