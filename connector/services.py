"""The shared services of one process: settings, store, queue, metrics, and lazily the clients.

Built once by each entry point (web app, worker, scheduler, CLI command) and handed down;
nothing lives at module level.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from connector.config import Settings, load_settings, mappings_folder
from connector.errors import ConfigError
from connector.metrics import Metrics
from connector.queue import Queue, RetryPolicy
from connector.store import open_store


class built_once(cached_property):  # noqa: N801 - reads like the decorator it replaces
    """`cached_property` that builds at most once per instance even when threads race to the
    first use (`cached_property` takes no lock since Python 3.12): one engine, one queue."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        with instance._building:
            return super().__get__(instance, owner)


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
    def inbound(self) -> Any:
        """The group-commit writer webhook routes record deliveries through."""
        from connector.inbound import InboundWriter

        return InboundWriter(self.queue)

    @built_once
    def metrics(self) -> Metrics:
        return Metrics(self.queue)

    @built_once
    def registry(self) -> Any:
        from connector.tasks import build_registry

        return build_registry()

    @built_once
    def mappings(self) -> Any:
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

    # -- clients of the external systems; built on first use, one per process ----------------

    @built_once
    def bitrix24(self) -> Any:
        from connector.systems.bitrix24.client import Bitrix24Client
        from connector.systems.bitrix24.credentials import TableTokenStore

        self._require(
            "bitrix24", self.settings.bitrix24_webhook_url or self.settings.bitrix24_client_id
        )
        return Bitrix24Client.from_settings(self.settings, token_store=TableTokenStore(self.engine))

    @built_once
    def mailchimp(self) -> Any:
        from connector.systems.mailchimp.client import MailchimpClient

        self._require("mailchimp", self.settings.mailchimp_api_key)
        return MailchimpClient.from_settings(self.settings)

    @built_once
    def woocommerce(self) -> Any:
        from connector.systems.woocommerce.client import WooCommerceClient

        self._require("woocommerce", self.settings.woocommerce_url)
        return WooCommerceClient.from_settings(self.settings)

    @built_once
    def cdek(self) -> Any:
        from connector.systems.cdek import CdekClient

        self._require("cdek", self.settings.cdek_client_id)
        return CdekClient.from_settings(self.settings)

    @built_once
    def shop(self) -> Any:
        """Signed events back to a custom site (the generic contract has no API to write to)."""
        from connector.systems.shop_callbacks import ShopCallbacks

        self._require("shop", self.enabled("shop"))
        return ShopCallbacks.from_settings(self.settings)

    @built_once
    def novaposhta(self) -> Any:
        from connector.systems.novaposhta import NovaPoshtaClient

        self._require("novaposhta", self.settings.novaposhta_api_key)
        return NovaPoshtaClient.from_settings(self.settings)

    def enabled(self, system: str) -> bool:
        """Whether a system is configured (its flows and jobs run only then)."""
        settings = self.settings
        return bool(
            {
                "bitrix24": settings.bitrix24_webhook_url or settings.bitrix24_client_id,
                "mailchimp": settings.mailchimp_api_key,
                "woocommerce": settings.woocommerce_url,
                "cdek": settings.cdek_client_id,
                "novaposhta": settings.novaposhta_api_key,
                "shop": settings.shop_callback_url and settings.shop_webhook_secret,
            }.get(system)
        )

    def _require(self, system: str, configured: Any) -> None:
        if not configured:
            raise ConfigError(f"{system} is not configured (see CONNECTOR_{system.upper()}_*)")

    def close(self) -> None:
        if "inbound" in self.__dict__:
            self.inbound.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
