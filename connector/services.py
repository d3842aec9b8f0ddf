"""The shared services of one process: settings, store, queue, metrics, and lazily the clients.

Built once by each entry point (web app, worker, scheduler, CLI command) and handed down;
nothing lives at module level.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from sqlalchemy import Engine

from connector.config import Settings, load_settings, mappings_folder
from connector.metrics import Metrics
from connector.queue import Queue, RetryPolicy
from connector.store import open_store

if TYPE_CHECKING:  # what the properties build, imported when first used
    from connector.alerts.refusals import RefusalCounter
    from connector.inbound import InboundWriter
    from connector.mapping import ReloadingMappings
    from connector.systems.bitrix24.client import Bitrix24Client
    from connector.systems.cdek import CdekClient
    from connector.systems.mailchimp.client import MailchimpClient
    from connector.systems.novaposhta import NovaPoshtaClient
    from connector.systems.registry import Registry
    from connector.systems.shop_callbacks import ShopCallbacks
    from connector.systems.woocommerce.client import WooCommerceClient
    from connector.tasks import TaskRegistry

Client = TypeVar("Client")
Built = TypeVar("Built")


class built_once(cached_property[Built]):  # noqa: N801 - reads like the decorator it replaces
    """`cached_property` that builds at most once per instance even when threads race to the
    first use (`cached_property` takes no lock since Python 3.12): one engine, one queue."""

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> built_once[Built]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> Built: ...
    def __get__(
        self, instance: object | None, owner: type | None = None
    ) -> Built | built_once[Built]:
        if instance is None:
            return self
        with cast(Services, instance)._building:  # used by Services only
            return super().__get__(instance, owner)


class system_client(Generic[Client]):  # noqa: N801 - reads like the decorator it replaces
    """`services.<name>`: the named system's client, built on first use through the registry,
    typed by its declaration (`bitrix24: system_client[Bitrix24Client]`).
    A non-data descriptor: a value set in the instance's __dict__ (a test's fake) wins."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> system_client[Client]: ...
    @overload
    def __get__(self, instance: Services, owner: type | None = None) -> Client: ...
    def __get__(
        self, instance: Services | None, owner: type | None = None
    ) -> Client | system_client[Client]:
        if instance is None:
            return self
        client: Client = instance.client(self.name)
        return client


class Services:
    """Everything a handler or route may need; each piece is built on first use."""

    def __init__(self, settings: Settings | None = None, engine: Engine | None = None) -> None:
        self.settings = settings or load_settings()
        self._engine = engine
        self._building = threading.RLock()

    @built_once
    def engine(self) -> Engine:
        return self._engine or open_store(self.settings)

    @built_once
    def queue(self) -> Queue:
        return Queue(self.engine, RetryPolicy.from_settings(self.settings))

    @built_once
    def inbound(self) -> InboundWriter:
        """The group-commit writer webhook routes record deliveries through."""
        from connector.inbound import InboundWriter

        return InboundWriter(self.queue)

    @built_once
    def metrics(self) -> Metrics:
        return Metrics(self.queue)

    @built_once
    def refusals(self) -> RefusalCounter:
        """Webhook deliveries refused as unauthentic, counted for the alerts (written every
        few seconds, never by the request)."""
        from connector.alerts.refusals import RefusalCounter

        return RefusalCounter(self.engine, self.queue.clock)

    @built_once
    def registry(self) -> TaskRegistry:
        from connector.tasks import build_registry

        return build_registry(self.systems)

    @built_once
    def mappings(self) -> ReloadingMappings:
        """The admin's mapping files, reloaded when they change (see `mappings_path`); the last
        good set is kept in the store, and run on while the files are invalid."""
        from connector.mapping import ReloadingMappings

        settings = self.settings
        return ReloadingMappings(
            self.mappings_path,
            store=self.engine,
            clock=self.queue.clock,
            # tasks waiting for a fix back off like retries, and resume within 5 minutes of it
            retry_wait=(settings.queue_backoff_base, min(settings.queue_backoff_max, 300.0)),
        )

    def require_mappings(self) -> None:
        """For the processes that run tasks: refuses to start, in one line, when the mapping
        files are invalid and the store holds no good set to run on instead."""
        mappings = self.mappings
        if mappings.status == "unusable":
            raise mappings.unusable()

    @property
    def mappings_path(self) -> Path:
        """CONNECTOR_MAPPINGS_DIR; a relative one missing here falls back to the bundled set
        (`config.mappings_folder`, the rule every command follows too)."""
        return mappings_folder(self.settings.mappings_dir)

    # -- the external systems: declared in connector/systems/*/system.py ---------------------

    @built_once
    def systems(self) -> Registry:
        """The systems the connector knows (connector/systems/registry.py)."""
        from connector.systems.registry import Registry

        return Registry.discover()

    def client(self, system: str) -> Any:
        """A system's client, built on first use, one per process (ConfigError if unset)."""
        with self._building:
            if system not in self.__dict__:
                self.__dict__[system] = self.systems.get(system).build_client(self)
            return self.__dict__[system]

    # typed accessors for the code that names a system (a test may set one in __dict__)
    bitrix24: system_client[Bitrix24Client] = system_client()
    mailchimp: system_client[MailchimpClient] = system_client()
    woocommerce: system_client[WooCommerceClient] = system_client()
    cdek: system_client[CdekClient] = system_client()
    shop: system_client[ShopCallbacks] = system_client()
    novaposhta: system_client[NovaPoshtaClient] = system_client()

    if not TYPE_CHECKING:  # a checker sees only the typed attributes above

        def __getattr__(self, name: str) -> Any:
            """`services.<system>` for a system with no typed accessor here (an entry point,
            a newer package); typed code asks its package's own (`<name>.system.<name>_client`)."""
            if name.startswith("_") or name in {"systems", "settings"}:
                raise AttributeError(name)
            if name in self.systems:
                return self.client(name)
            raise AttributeError(name)

    def enabled(self, system: str) -> bool:
        """Whether a system is configured (its flows and jobs run only then)."""
        return self.systems.enabled(system, self.settings)

    def close(self) -> None:
        if "inbound" in self.__dict__:
            self.inbound.close()
        if "refusals" in self.__dict__:
            self.refusals.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
