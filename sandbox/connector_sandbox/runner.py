"""Starts every emulator on its own loopback port, each served by a real multi-threaded WSGI
server.

Used by ``connector sandbox`` (the demo and admins rehearsing a change) and by the pytest fixtures
in ``connector_sandbox.pytest_plugin`` (end-to-end tests and benchmarks). Port 0 picks a free port.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from connector_sandbox.faults import ensure_faults

log = logging.getLogger(__name__)

EMULATORS: tuple[str, ...] = (
    "bitrix24",
    "mailchimp",
    "woocommerce",
    "cdek",
    "novaposhta",
    "openloyalty",
    "kaspi",
    "mandrill",
    "smsru",
    "twilio",
    "telegram",
    "whatsapp",
)

# stable sandbox credentials: the same every start, so an env file written once keeps working
MAILCHIMP_API_KEY = "0123456789abcdef0123456789abcdef-us1"
MAILCHIMP_LIST_ID = "sandbox-list"
MAILCHIMP_STORE_ID = "sandbox-store"
WOOCOMMERCE_KEY = "ck_d6a0c1f4e2b3a5c7d9e1f0a2b4c6d8e0f1a3b5c7"
WOOCOMMERCE_SECRET = "cs_7e1f3a5c9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a"
WOOCOMMERCE_WEBHOOK_SECRET = "sandbox-woocommerce-webhook-secret"
CDEK_CLIENT_ID = "sandbox-cdek-account"
CDEK_CLIENT_SECRET = "sandbox-cdek-secure-password"
NOVAPOSHTA_API_KEY = "0123456789abcdef0123456789abcdef"
OPENLOYALTY_USERNAME = "admin"
OPENLOYALTY_PASSWORD = "open"
OPENLOYALTY_API_TOKEN = "sandbox-openloyalty-api-token"
MAILCHIMP_WEBHOOK_SECRET = "sandbox-mailchimp-webhook-path"
CDEK_WEBHOOK_SECRET = "sandbox-cdek-webhook-path"
KASPI_TOKEN = "sandbox-kaspi-token"
MANDRILL_API_KEY = "sandbox-mandrill-api-key"
MANDRILL_WEBHOOK_KEY = "sandbox-mandrill-webhook-key"
SMSRU_API_ID = "5A1D8B0C-0000-4000-8000-5A1D8B0C0000"
SMSRU_WEBHOOK_SECRET = "sandbox-smsru-callback-path"
TWILIO_ACCOUNT_SID = "AC5a1d8b0c00004000800050a1d8b0c000"
TWILIO_AUTH_TOKEN = "sandbox-twilio-auth-token"
TWILIO_FROM_NUMBER = "+15005550006"
TELEGRAM_BOT_TOKEN = "123456:sandbox-telegram-bot-token"
TELEGRAM_BOT_USERNAME = "sandbox_shop_bot"
TELEGRAM_WEBHOOK_SECRET = "sandbox-telegram-webhook-secret"
WHATSAPP_ACCESS_TOKEN = "sandbox-whatsapp-access-token"
WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
WHATSAPP_APP_SECRET = "sandbox-whatsapp-app-secret"
WHATSAPP_VERIFY_TOKEN = "sandbox-whatsapp-verify-token"


def default_config() -> dict[str, dict[str, Any]]:
    """Per-emulator settings the runner hands to each ``create_app``."""
    return {
        "mailchimp": {
            "api_key": MAILCHIMP_API_KEY,
            "list_id": MAILCHIMP_LIST_ID,
            "store_id": MAILCHIMP_STORE_ID,
        },
        "woocommerce": {
            "consumer_key": WOOCOMMERCE_KEY,
            "consumer_secret": WOOCOMMERCE_SECRET,
            "webhook_secret": WOOCOMMERCE_WEBHOOK_SECRET,
        },
        "cdek": {"client_id": CDEK_CLIENT_ID, "client_secret": CDEK_CLIENT_SECRET},
        "novaposhta": {"api_key": NOVAPOSHTA_API_KEY},
        "openloyalty": {
            "username": OPENLOYALTY_USERNAME,
            "password": OPENLOYALTY_PASSWORD,
            "api_token": OPENLOYALTY_API_TOKEN,
        },
        "kaspi": {"token": KASPI_TOKEN},
        "mandrill": {"api_key": MANDRILL_API_KEY, "webhook_key": MANDRILL_WEBHOOK_KEY},
        "smsru": {"api_id": SMSRU_API_ID},
        "twilio": {
            "account_sid": TWILIO_ACCOUNT_SID,
            "auth_token": TWILIO_AUTH_TOKEN,
            "from_number": TWILIO_FROM_NUMBER,
        },
        "telegram": {"token": TELEGRAM_BOT_TOKEN, "username": TELEGRAM_BOT_USERNAME},
        "whatsapp": {
            "access_token": WHATSAPP_ACCESS_TOKEN,
            "phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
            "app_secret": WHATSAPP_APP_SECRET,
        },
    }


class _QuietHandler(WSGIRequestHandler):
    """Keeps werkzeug from printing one line per request; errors still reach the log.

    HTTP/1.1 keeps connections alive, as the real APIs do, so clients reuse their pooled sockets.
    """

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s %s", self.command, self.path, code)


def _bitrix24_fault_body(status: int) -> tuple[str, bytes]:
    """Bitrix24's own shape for server errors (the emulator itself installs no fault injector)."""
    code = "INTERNAL_SERVER_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
    body = {"error": code, "error_description": "Internal server error"}
    return "application/json; charset=utf-8", json.dumps(body).encode()


FAULT_BODIES = {"bitrix24": _bitrix24_fault_body}


def _factory(name: str) -> Callable[..., Flask] | None:
    try:
        module = importlib.import_module(f"connector_sandbox.{name}")
    except ImportError as error:
        log.warning("sandbox emulator %s is not available: %s", name, error)
        return None
    factory = getattr(module, "create_app", None)
    if factory is None:
        log.warning("sandbox emulator %s has no create_app", name)
    return factory


class ServedApp:
    """One WSGI app on a real multi-threaded werkzeug server, in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def start(self) -> ServedApp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Starts ``app`` on ``host:port`` (0 = a free port) and answers the running server."""
    return ServedApp(app, host, port).start()


class Sandbox:
    """Every emulator, each on its own thread and port. Usable as a context manager."""

    def __init__(
        self,
        ports: dict[str, int] | None = None,
        host: str = "127.0.0.1",
        config: dict[str, dict[str, Any]] | None = None,
        names: tuple[str, ...] = EMULATORS,
    ) -> None:
        self.host = host
        self.ports = {name: 0 for name in names} | dict(ports or {})
        self.config = default_config()
        for name, extra in (config or {}).items():
            self.config.setdefault(name, {}).update(extra)
        self.names = names
        self.apps: dict[str, Flask] = {}
        self.urls: dict[str, str] = {}
        self._served: dict[str, ServedApp] = {}
        self._session = requests.Session()
        self._session.trust_env = False

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        try:
            for name in self.names:
                self._start_one(name)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_one(self, name: str) -> None:
        factory = _factory(name)
        if factory is None:
            return
        settings = self.config.get(name)
        app = factory(settings) if settings is not None else factory()
        ensure_faults(app, FAULT_BODIES.get(name))
        served = ServedApp(app, self.host, self.ports.get(name, 0))
        app.config["SANDBOX_BASE_URL"] = served.url
        self.apps[name], self.urls[name], self.ports[name] = app, served.url, served.port
        self._served[name] = served.start()

    def stop(self) -> None:
        for served in self._served.values():
            served.stop()
        self._served.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Empties every emulator back to its start state and switches every fault off."""
        for name, url in self.urls.items():
            response = self._session.post(f"{url}/_sandbox/reset", timeout=30)
            response.raise_for_status()
            self._session.delete(f"{url}/_sandbox/faults", timeout=10).raise_for_status()
            log.debug("sandbox %s reset", name)

    def faults(self, name: str, **setting: Any) -> dict[str, Any]:
        """Sets faults on one emulator (see ``FaultInjector``) and answers the new setting."""
        response = self._session.put(f"{self.urls[name]}/_sandbox/faults", json=setting, timeout=10)
        response.raise_for_status()
        return response.json()

    def control(self, name: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Calls one emulator's control API, e.g. ``control("woocommerce", "POST",
        "/shopper/...")``.
        """
        url = f"{self.urls[name]}/_sandbox/{path.lstrip('/')}"
        return self._session.request(method, url, timeout=kwargs.pop("timeout", 30), **kwargs)

    # -- what the connector needs ----------------------------------------------------------------

    @property
    def api_urls(self) -> dict[str, str]:
        """Where each API lives (what the connector settings point at)."""
        api: dict[str, str] = {}
        for name, url in self.urls.items():
            if name == "bitrix24":
                api[name] = self.bitrix24_webhook_url()
            else:
                api[name] = url + _API_SUFFIX.get(name, "")
        return api

    def bitrix24_webhook_url(self) -> str:
        user_id, token = _bitrix24_webhook_credentials(self.apps.get("bitrix24"))
        return f"{self.urls.get('bitrix24', '')}/rest/{user_id}/{token}/"

    def credentials(self) -> dict[str, dict[str, Any]]:
        """Per emulator: the credentials a person would type into the connector's settings."""
        return {name: dict(values) for name, values in self.config.items() if name in self.urls}

    def settings_env(self) -> dict[str, str]:
        """``CONNECTOR_*`` variables that point the connector at this sandbox and nothing else.

        Names are those of ``connector.config.SETTINGS``; URLs are roots (the clients add ``/v2``,
        ``/v2.0/json/``, ``/wp-json/wc/v3``), except Mailchimp's, which is the API base with
        ``/3.0``.
        """
        env: dict[str, str] = {}
        urls, config = self.urls, self.config
        if "bitrix24" in urls:
            env["CONNECTOR_BITRIX24_WEBHOOK_URL"] = self.bitrix24_webhook_url()
        if "mailchimp" in urls:
            mc = config["mailchimp"]
            env |= {
                "CONNECTOR_MAILCHIMP_API_KEY": mc["api_key"],
                "CONNECTOR_MAILCHIMP_BASE_URL": urls["mailchimp"] + "/3.0",
                "CONNECTOR_MAILCHIMP_LIST_ID": mc["list_id"],
                "CONNECTOR_MAILCHIMP_STORE_ID": mc["store_id"],
                "CONNECTOR_MAILCHIMP_WEBHOOK_SECRET": MAILCHIMP_WEBHOOK_SECRET,
            }
        if "woocommerce" in urls:
            wc = config["woocommerce"]
            env |= {
                "CONNECTOR_WOOCOMMERCE_URL": urls["woocommerce"],
                "CONNECTOR_WOOCOMMERCE_KEY": wc["consumer_key"],
                "CONNECTOR_WOOCOMMERCE_SECRET": wc["consumer_secret"],
                "CONNECTOR_WOOCOMMERCE_WEBHOOK_SECRET": wc["webhook_secret"],
            }
        if "cdek" in urls:
            env |= {
                "CONNECTOR_CDEK_URL": urls["cdek"],
                "CONNECTOR_CDEK_CLIENT_ID": config["cdek"]["client_id"],
                "CONNECTOR_CDEK_CLIENT_SECRET": config["cdek"]["client_secret"],
                "CONNECTOR_CDEK_WEBHOOK_SECRET": CDEK_WEBHOOK_SECRET,
            }
        if "novaposhta" in urls:
            env |= {
                "CONNECTOR_NOVAPOSHTA_URL": urls["novaposhta"],
                "CONNECTOR_NOVAPOSHTA_API_KEY": config["novaposhta"]["api_key"],
            }
        if "openloyalty" in urls:
            env |= {
                "CONNECTOR_OPENLOYALTY_URL": urls["openloyalty"],
                "CONNECTOR_OPENLOYALTY_TOKEN": config["openloyalty"]["api_token"],
            }
        if "kaspi" in urls:
            env |= {
                "CONNECTOR_KASPI_URL": urls["kaspi"] + _API_SUFFIX["kaspi"],
                "CONNECTOR_KASPI_TOKEN": config["kaspi"]["token"],
            }
        if "mandrill" in urls:
            env |= {
                "CONNECTOR_MANDRILL_URL": urls["mandrill"] + _API_SUFFIX["mandrill"],
                "CONNECTOR_MANDRILL_API_KEY": config["mandrill"]["api_key"],
                "CONNECTOR_MANDRILL_WEBHOOK_KEY": config["mandrill"]["webhook_key"],
            }
        if "smsru" in urls:
            env |= {
                "CONNECTOR_SMSRU_URL": urls["smsru"],
                "CONNECTOR_SMSRU_API_ID": config["smsru"]["api_id"],
                "CONNECTOR_SMSRU_WEBHOOK_SECRET": SMSRU_WEBHOOK_SECRET,
            }
        if "twilio" in urls:
            twilio = config["twilio"]
            env |= {
                "CONNECTOR_TWILIO_URL": urls["twilio"],
                "CONNECTOR_TWILIO_ACCOUNT_SID": twilio["account_sid"],
                "CONNECTOR_TWILIO_AUTH_TOKEN": twilio["auth_token"],
                "CONNECTOR_TWILIO_FROM_NUMBER": twilio["from_number"],
            }
        if "telegram" in urls:
            env |= {
                "CONNECTOR_TELEGRAM_URL": urls["telegram"],
                "CONNECTOR_TELEGRAM_BOT_TOKEN": config["telegram"]["token"],
                "CONNECTOR_TELEGRAM_BOT_USERNAME": config["telegram"]["username"],
                "CONNECTOR_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
            }
        if "whatsapp" in urls:
            whatsapp = config["whatsapp"]
            env |= {
                "CONNECTOR_WHATSAPP_URL": urls["whatsapp"],
                "CONNECTOR_WHATSAPP_ACCESS_TOKEN": whatsapp["access_token"],
                "CONNECTOR_WHATSAPP_PHONE_NUMBER_ID": whatsapp["phone_number_id"],
                "CONNECTOR_WHATSAPP_APP_SECRET": whatsapp["app_secret"],
                "CONNECTOR_WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
            }
        return env

    def write_env_file(self, path: str) -> None:
        lines = [f"{key}={value}" for key, value in sorted(self.settings_env().items())]
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("# written by `connector sandbox`: points the connector at the sandbox\n")
            handle.write("\n".join(lines) + "\n")


_API_SUFFIX = {
    "mailchimp": "/3.0",
    "woocommerce": "/wp-json/wc/v3",
    "cdek": "/v2",
    "novaposhta": "/v2.0/json/",
    "openloyalty": "/api",
    "kaspi": "/shop/api/v2",
    "mandrill": "/api/1.0",
}


def _bitrix24_webhook_credentials(app: Flask | None) -> tuple[int, str]:
    """Finds the inbound-webhook user and token of the Bitrix24 emulator, whatever holds them."""
    default = (1, "sandboxtoken")
    if app is None:
        return default
    for key in ("BITRIX24_CONFIG", "SANDBOX_CONFIG", "config"):
        found = app.config.get(key)
        if found is not None and hasattr(found, "webhook_token"):
            return int(getattr(found, "webhook_user_id", 1)), str(found.webhook_token)
    for value in app.extensions.values():
        candidates = [value, getattr(value, "config", None)]
        for candidate in candidates:
            if candidate is not None and hasattr(candidate, "webhook_token"):
                user = getattr(candidate, "webhook_user_id", 1)
                return int(user), str(candidate.webhook_token)
    return default
