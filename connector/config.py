"""One typed settings object, read from `CONNECTOR_*` environment variables and an optional `.env`.

Every setting is declared once, as a typed field of `Settings` (its default, meaning, parser and
whether it is a secret), so a type checker sees `settings.http_port` as an `int`; `SETTINGS` lists
the same fields. A system's own settings are declared in its package (a `SystemSettings` class
its declaration names) and read through `settings.of(ItsSettings)`; `all_settings()` lists the
core's and every registered system's, and the README table is generated from it
(`connector config --markdown`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from dotenv import dotenv_values

from connector.errors import ConfigError

PREFIX = "CONNECTOR_"


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on", "y"}:
        return True
    if value in {"0", "false", "no", "off", "n", ""}:
        return False
    raise ValueError("expected true or false")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"expected a {'whole ' if kind is int else ''}number") from None
        if value <= 0:
            raise ValueError("must be greater than zero")
        return value

    return parse


def _seconds_up_to(most: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = _positive(float)(raw)
        if value > most:
            raise ValueError(f"must be at most {most:g}")
        return value

    return parse


def _port(raw: str) -> int:
    value = int(raw) if raw.strip().isdigit() else -1
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port between 0 and 65535")
    return value


def _count(raw: str) -> int:
    """A whole number of zero or more (the admin console's proxy hops)."""
    if not raw.strip().isdigit():
        raise ValueError("expected a whole number of zero or more")
    return int(raw)


@dataclass(frozen=True)
class Setting:
    """One `CONNECTOR_*` variable: its attribute name, parser, default and meaning."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False

    @property
    def env(self) -> str:
        return PREFIX + self.name.upper()


def setting(
    default: Any, help: str, parse: Callable[[str], Any] = str, *, secret: bool = False
) -> Any:
    """One field of `Settings`: a `CONNECTOR_*` variable's default, meaning, parser and secrecy
    (a dataclass field whose metadata `SETTINGS` reads)."""
    return field(default=default, metadata={"help": help, "parse": parse, "secret": secret})


# -- a system's own settings, declared in its package -------------------------------------
# The parsers a system's settings may use (connector/systems/<name>/settings.py).
boolean = _bool
positive = _positive
choice = _choice


@dataclass(frozen=True)
class SystemSettings:
    """A system's own settings, declared in its package (`connector/systems/<name>/settings.py`)
    as a frozen dataclass of `setting(...)` fields named without the system's prefix:

        @dataclass(frozen=True)
        class AcmeSettings(SystemSettings):
            prefix: ClassVar[str] = "acme"
            token: str | None = setting(None, "Acme API token.", secret=True)

    is `CONNECTOR_ACME_TOKEN` (flat name `acme_token`). The system's declaration names the
    class (`System(settings=AcmeSettings)`); `load_settings` reads the group of every
    registered system into the one `Settings` (and `.env`, its validation, `connector config
    --markdown/--example` see them all), and the system reads its own, typed, through
    `settings.of(AcmeSettings).token`."""

    prefix: ClassVar[str] = ""

    @classmethod
    def entries(cls) -> tuple[Setting, ...]:
        """Its variables, named `<prefix>_<field>` (as `connector.config.SETTINGS` names them)."""
        return tuple(
            Setting(
                f"{cls.prefix}_{f.name}",
                f.default,
                f.metadata["help"],
                f.metadata["parse"],
                f.metadata["secret"],
            )
            for f in fields(cls)
        )

    def secrets(self) -> list[str]:
        return [
            str(getattr(self, f.name))
            for f in fields(self)
            if f.metadata["secret"] and getattr(self, f.name)
        ]


Group = TypeVar("Group", bound=SystemSettings)


@dataclass(frozen=True)
class Settings:
    """The connector's settings: one typed attribute per `CONNECTOR_*` variable, declared once
    here (its type, default, meaning, parser and secrecy); `SETTINGS` lists them for the docs,
    `.env.example` and the registry's systems."""

    database_url: str = setting(
        "sqlite:///var/connector.db",
        "SQLAlchemy URL of the store; "
        "SQLite (WAL) by default, `postgresql+psycopg://...` to share work between machines.",
    )
    sqlite_synchronous: str = setting(
        "normal",
        "SQLite `synchronous` pragma: `normal` (fast, safe "
        "against process crashes in WAL mode) or `full` (also safe against power loss).",
        _choice("normal", "full"),
    )
    http_host: str = setting("127.0.0.1", "Address `serve` and `run` listen on.")
    http_port: int = setting(8000, "Port `serve` and `run` listen on.", _port)
    http_threads: int = setting(
        16,
        "Request threads of the web server (per process of `serve`, or of `run`).",
        _positive(int),
    )
    http_workers: int = setting(
        2,
        "Processes of `connector serve`. Two use both cores of a small machine: on SQLite they "
        "take turns writing the file, each with its own group commit (2,000 webhooks/s with "
        "p99 15-44 ms on two cores in five runs of six, against one process's 1,500/s with "
        "p99 20 ms and its ceiling below 2,000/s); on PostgreSQL more can help when the "
        "database has its own cores.",
        _positive(int),
    )
    http_read_timeout: float = setting(
        10.0,
        "Seconds a client may take to send a request's headers, and again its body, to "
        "`serve` or `run`; a slower one gets a 408 and its connection is closed, as is a "
        "connection idle about this long. At most 60.",
        _seconds_up_to(60.0),
    )
    http_connection_limit: int = setting(
        1000,
        "Connections a web server process (each one of `serve`, or `run`) holds at once; more "
        "wait in the listen backlog. With the read time-out, this bounds what slow or idle "
        "clients can take: a request never holds a thread while it arrives.",
        _positive(int),
    )
    public_url: str = setting(
        "http://127.0.0.1:8000",
        "Base URL at which the outside world reaches "
        "`connector serve`; `connector setup` registers webhooks under it.",
    )
    mappings_dir: str = setting("mappings", "Folder of the admin-edited mapping files.")
    log_level: str = setting("info", "Log level.", _choice("debug", "info", "warning", "error"))
    log_format: str = setting(
        "text", "`text` (one line per event) or `json`.", _choice("text", "json")
    )
    worker_threads: int = setting(
        64,
        "Threads of `connector worker` (and of `run`); a task waiting for its Bitrix24 "
        "command in the shared `batch` holds its thread, so more threads fill fuller batches: "
        "64 use a standard portal's 2 requests/s (ceiling ratio 0.99; 16 reached 0.53), 128 "
        "a portal at 5 requests/s (0.88 in a worker process of its own).",
        _positive(int),
    )
    worker_poll_seconds: float = setting(
        0.05, "How long an idle worker waits before looking for due tasks again.", _positive(float)
    )
    queue_max_attempts: int = setting(
        8, "Attempts before a failing task becomes a dead letter.", _positive(int)
    )
    queue_backoff_base: float = setting(
        5.0, "Seconds before the first retry; doubles each attempt (with jitter).", _positive(float)
    )
    queue_backoff_max: float = setting(
        3600.0, "Longest wait between two attempts, in seconds.", _positive(float)
    )
    queue_lease_seconds: float = setting(
        15.0,
        "How long a claimed task stays claimed without word from its worker, which renews "
        "the lease every third of it while it holds the task (however long the task runs); "
        "a task whose worker died is claimed again after this.",
        _positive(float),
    )
    queue_keep_done_days: float = setting(
        7.0,
        "Finished tasks (and their dedupe keys) are purged after this many days.",
        _positive(float),
    )
    webhook_max_bytes: int = setting(
        1_048_576, "Largest webhook body accepted (413 above).", _positive(int)
    )
    http_timeout: float = setting(
        30.0, "Time-out of every outgoing HTTP call, in seconds.", _positive(float)
    )
    admin_token: str | None = setting(
        None, "Bearer token of the admin and loyalty checkout API.", secret=True
    )
    # Bitrix24
    bitrix24_webhook_url: str | None = setting(
        None, "Inbound-webhook URL of the portal (`https://PORTAL/rest/USER/TOKEN/`).", secret=True
    )
    bitrix24_portal_url: str | None = setting(
        None, "Portal URL for an OAuth app (`https://PORTAL/`)."
    )
    bitrix24_client_id: str | None = setting(None, "OAuth app client id.")
    bitrix24_client_secret: str | None = setting(None, "OAuth app client secret.", secret=True)
    bitrix24_oauth_url: str = setting(
        "https://oauth.bitrix.info/oauth/token/", "Token endpoint of Bitrix24 OAuth."
    )
    bitrix24_application_token: str | None = setting(
        None,
        "`application_token` that verifies incoming "
        "Bitrix24 events (printed by `connector setup bitrix24`).",
        secret=True,
    )
    bitrix24_rate: float = setting(
        2.0, "Requests per second the portal drains (2 standard, 5 Enterprise).", _positive(float)
    )
    bitrix24_burst: int = setting(
        50, "Requests the portal allows at once before limiting.", _positive(int)
    )
    # Bitrix24 dispatcher (cross-task batching)
    bitrix24_dispatch: bool = setting(
        True,
        "Send the single REST commands of all running tasks in shared `batch` calls of up to "
        "50 (one dispatcher per portal); off sends each command as its own request.",
        _bool,
    )
    bitrix24_dispatch_window_ms: float = setting(
        3.0,
        "Milliseconds the dispatcher waits for other tasks' commands when the portal's bucket "
        "has room and the last batch had company (a lone command is never delayed).",
        _positive(float),
    )
    # Mailchimp
    mailchimp_api_key: str | None = setting(None, "Mailchimp API key (`...-us6`).", secret=True)
    mailchimp_base_url: str | None = setting(
        None,
        "API base URL; derived from the key's data centre "
        "(`https://us6.api.mailchimp.com/3.0`) unless set.",
    )
    mailchimp_list_id: str | None = setting(None, "Audience (list) id the customers belong to.")
    mailchimp_store_id: str = setting("connector", "E-commerce store id the connector keeps.")
    mailchimp_webhook_secret: str | None = setting(
        None, "Secret path part of the Mailchimp webhook URL.", secret=True
    )
    # WooCommerce
    woocommerce_url: str | None = setting(None, "Shop base URL (`https://shop.example`).")
    woocommerce_key: str | None = setting(None, "REST consumer key (`ck_...`).", secret=True)
    woocommerce_secret: str | None = setting(None, "REST consumer secret (`cs_...`).", secret=True)
    woocommerce_webhook_secret: str | None = setting(
        None, "Secret that signs WooCommerce webhooks.", secret=True
    )
    # Loyalty
    loyalty_provider: str = setting(
        "ledger", "`ledger` (built in) or `openloyalty`.", _choice("ledger", "openloyalty")
    )
    openloyalty_url: str | None = setting(None, "Open Loyalty API base URL.")
    openloyalty_token: str | None = setting(None, "Open Loyalty API token.", secret=True)

    # Admin console (/admin) and the web app's security
    admin_session_idle_minutes: float = setting(
        60.0,
        "A console session ends after this many minutes without a request.",
        _positive(float),
    )
    admin_session_max_hours: float = setting(
        12.0,
        "A console session ends this many hours after sign-in, used or not.",
        _positive(float),
    )
    admin_signin_attempts: int = setting(
        5,
        "Refused console sign-ins allowed per account and per address in 15 minutes; "
        "more are answered 429 until the window has passed.",
        _positive(int),
    )
    http_proxy_hops: int = setting(
        0,
        "Reverse proxies in front of the app whose `X-Forwarded-For/-Proto/-Host` are "
        "trusted (0: none). Behind HTTPS this makes the console's cookie `Secure`.",
        _count,
    )
    metrics_token: str | None = setting(
        None, "When set, `/metrics` asks for `Authorization: Bearer <token>`.", secret=True
    )

    # Alerts (connector/alerts/, docs/alerts.md): channels, then the rules' thresholds
    alerts_email_to: str | None = setting(
        None, "Addresses (comma-separated) alerts are mailed to; unset: no email."
    )
    alerts_email_from: str = setting("connector@localhost", "Sender address of alert mails.")
    alerts_smtp_host: str | None = setting(None, "SMTP server of alert mails.")
    alerts_smtp_port: int = setting(587, "Port of the SMTP server.", _port)
    alerts_smtp_security: str = setting(
        "starttls",
        "`starttls` (upgrade a plain connection, usually port 587), `ssl` (TLS from the "
        "start, usually 465) or `none` (a relay on a trusted network only).",
        _choice("starttls", "ssl", "none"),
    )
    alerts_smtp_user: str | None = setting(None, "SMTP login; unset: no login.")
    alerts_smtp_password: str | None = setting(None, "SMTP password.", secret=True)
    alerts_telegram_token: str | None = setting(
        None, "Telegram bot token alerts are sent with (with the chat id).", secret=True
    )
    alerts_telegram_chat_id: str | None = setting(
        None, "Telegram chat (id or @channel) that receives alerts."
    )
    alerts_telegram_url: str = setting(
        "https://api.telegram.org", "Telegram Bot API base URL (a proxy or a local Bot API)."
    )
    alerts_webhook_url: str | None = setting(
        None,
        'URL that receives each alert as JSON `{"text": ...}` (Slack incoming webhooks and '
        "Mattermost read it); it usually holds a secret.",
        secret=True,
    )
    alerts_timeout: float = setting(
        5.0,
        "Seconds one alert send may take (connect and answer); a slower channel is tried "
        "again at the next evaluation and never holds up the others. At most 30.",
        _seconds_up_to(30.0),
    )
    alerts_digest_minutes: float = setting(
        15.0,
        "New dead letters are told in one digest per this many minutes.",
        _positive(float),
    )
    alerts_failing_minutes: float = setting(
        15.0,
        "A system whose tasks fail with no success for this many minutes opens an incident.",
        _positive(float),
    )
    alerts_queue_lag_minutes: float = setting(
        10.0,
        "The oldest due task waiting this many minutes opens an incident.",
        _positive(float),
    )
    alerts_refused_webhooks: int = setting(
        20,
        "Webhook deliveries of one source refused as unauthentic (401) within 5 minutes that "
        "open an incident (a wrong secret, or someone probing).",
        _positive(int),
    )

    # Cascades (connector/cascades/, docs/cascades.md): scenarios in mappings/cascades.yaml
    cascades_time_zone: str = setting(
        "UTC",
        "IANA time zone of customers whose phone number names no single zone (quiet hours are "
        "kept in the customer's own zone), e.g. `Europe/Moscow`.",
    )

    # Catalogue (connector/catalogue/, docs/catalogue.md): master and copies in
    # mappings/catalogue.yaml
    mailchimp_connections: int = setting(
        4,
        "Requests this process sends to Mailchimp at once (Mailchimp allows 10 per API key, "
        "shared by every process that uses it); a catalogue sync uses them all.",
        _positive(int),
    )

    # the settings of every registered system (its `SystemSettings` class), by class: see `of`
    groups: Mapping[type[SystemSettings], SystemSettings] = field(
        default_factory=lambda: {group: group() for group in system_setting_groups()},
        repr=False,
    )

    def of(self, group: type[Group]) -> Group:
        """A system's own settings, typed: `settings.of(AcmeSettings).token` (its defaults
        when the system is not registered)."""
        found = self.groups.get(group)
        return found if isinstance(found, group) else group()

    def value(self, name: str) -> Any:
        """A setting by its flat name (`http_port`, `acme_token`), core or a system's."""
        if name in _CORE:
            return getattr(self, name)
        for group in self.__dict__.get("groups", {}).values():
            attribute = name.removeprefix(f"{group.prefix}_")
            if attribute != name and attribute in {f.name for f in fields(group)}:
                return getattr(group, attribute)
        raise AttributeError(f"no setting {name!r}")

    if not TYPE_CHECKING:  # a checker sees only the typed attributes and `of`

        def __getattr__(self, name: str) -> Any:
            """`settings.acme_token`: a system's setting by its flat name, for untyped code."""
            if name.startswith("_") or name == "groups":
                raise AttributeError(name)
            return self.value(name)

    def secrets(self) -> list[str]:
        """Values that logs must never show."""
        found = [str(getattr(self, s.name)) for s in SETTINGS if s.secret and getattr(self, s.name)]
        return found + [secret for group in self.groups.values() for secret in group.secrets()]

    @property
    def mailchimp_api_url(self) -> str | None:
        """Mailchimp base URL: the explicit one, else the key's data centre."""
        if self.mailchimp_base_url:
            return str(self.mailchimp_base_url).rstrip("/")
        if self.mailchimp_api_key and "-" in self.mailchimp_api_key:
            dc = self.mailchimp_api_key.rsplit("-", 1)[1]
            return f"https://{dc}.api.mailchimp.com/3.0"
        return None

    @property
    def mailchimp_audience(self) -> str:
        """The audience id the Mailchimp flows write to (ConfigError naming it when unset)."""
        if not self.mailchimp_list_id:
            raise ConfigError(
                "CONNECTOR_MAILCHIMP_LIST_ID is not set: the audience of the customers"
            )
        return self.mailchimp_list_id

    @property
    def mappings_path(self) -> Path:
        """The mappings folder in force (see `mappings_folder`)."""
        return mappings_folder(self.mappings_dir)

    def replace(self, **changes: Any) -> Settings:
        """A copy with these settings changed, by flat name (`acme_token="..."` changes
        the Acme group)."""
        import dataclasses

        values = {f.name: getattr(self, f.name) for f in fields(self)}
        groups = dict(self.groups)
        for name, value in changes.items():
            if name in values:
                values[name] = value
                continue
            for kind, group in groups.items():
                attribute = name.removeprefix(f"{kind.prefix}_")
                if attribute != name and attribute in {f.name for f in fields(kind)}:
                    groups[kind] = dataclasses.replace(group, **{attribute: value})
                    break
            else:
                raise TypeError(f"no setting {name!r}")
        values["groups"] = groups
        return Settings(**values)


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, f.default, f.metadata["help"], f.metadata["parse"], f.metadata["secret"])
    for f in fields(Settings)
    if "help" in f.metadata
)
_CORE = frozenset(s.name for s in SETTINGS)


def system_setting_groups() -> list[type[SystemSettings]]:
    """The settings class of every registered system (connector/systems/registry.py: the
    built-in systems and the `connector.systems` entry points), in the registry's order."""
    from connector.systems.registry import Registry

    return [group for system in Registry.discover() if (group := system.settings_group)]


def all_settings(groups: list[type[SystemSettings]] | None = None) -> tuple[Setting, ...]:
    """Every variable: the core's (`SETTINGS`), then each registered system's."""
    found = system_setting_groups() if groups is None else groups
    return SETTINGS + tuple(entry for group in found for entry in group.entries())


def required(value: str | None, variable: str) -> str:
    """A setting the caller cannot do without: its value, or a ConfigError naming `variable`."""
    if not value:
        raise ConfigError(f"{variable} is not set")
    return value


def load_settings(
    env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Reads settings from `env` (default: the process environment) over an optional `.env` file.

    Unknown `CONNECTOR_*` names and unparsable values raise `ConfigError` naming the variable.
    """
    source: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    source.update(os.environ if env is None else env)
    groups = system_setting_groups()
    known = {s.env: s for s in all_settings(groups)}
    values: dict[str, Any] = {}
    for name, raw in source.items():
        if not name.startswith(PREFIX) or name in _IGNORED:
            continue
        setting = known.get(name)
        if setting is None:
            hint = _closest(name, list(known))
            raise ConfigError(
                f"unknown setting {name}" + (f" (did you mean {hint}?)" if hint else "")
            )
        try:
            values[setting.name] = setting.parse(raw) if raw.strip() != "" else setting.default
        except ValueError as error:
            raise ConfigError(f"{name}={raw!r}: {error}") from None
    return Settings(groups={group: group() for group in groups}).replace(**values)


# Variables that share our prefix but are read elsewhere (the sandbox, tests).
_IGNORED = {"CONNECTOR_MAILCHIMP_OPENAPI", "CONNECTOR_ENV_FILE"}


def _closest(name: str, candidates: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.7)
    return found[0] if found else None


def settings_markdown() -> str:
    """The README table of every variable, its default and its meaning."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in all_settings():
        default = "" if s.default is None else f"`{s.default}`"
        secret = " **Secret.**" if s.secret else ""
        rows.append(f"| `{s.env}` | {default} | {s.help}{secret} |")
    return "\n".join(rows)


def env_example() -> str:
    """A commented `.env` with every variable at its default (the committed `.env.example`)."""
    lines = [
        "# Settings of the connector; every variable is optional. Secrets belong here or in",
        "# the environment, never in mapping files. See README.md for each meaning.",
        "",
    ]
    for s in all_settings():
        lines.append(f"# {s.help}")
        value = "" if s.default is None else str(s.default)
        lines.append(f"{'' if s.default is not None and not s.secret else '# '}{s.env}={value}")
    return "\n".join(lines) + "\n"


BUNDLED_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


def mappings_folder(configured: str | os.PathLike[str] | None) -> Path:
    """The one rule for CONNECTOR_MAPPINGS_DIR, for the service and every command alike: the
    folder as given when it exists (or is absolute); a relative one missing from the current
    folder is looked up next to the connector, so the bundled `mappings/` serve from anywhere."""
    path = Path(configured or "mappings")
    if path.is_dir() or path.is_absolute():
        return path
    bundled = BUNDLED_MAPPINGS.parent / path
    return bundled if bundled.is_dir() else path


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    match = re.match(r"^sqlite(?:\+\w+)?:///(.+)$", database_url)
    if not match or match.group(1) == ":memory:":
        return None
    return Path(match.group(1))
