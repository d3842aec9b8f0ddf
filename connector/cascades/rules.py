"""Cascade scenarios admins edit (`mappings/cascades.yaml`), with errors naming file:line:key.

A scenario is a trigger (an event and its filters), steps (a channel or channels to try in
order, a text, subject or template whose `{customer.first_name}`-style fields are checked here,
a delay after the previous step, marketing or service), stop conditions, quiet hours and
frequency caps. The file shares the mappings folder and the `connector mappings validate` run
(`connector.mapping.schema.RULES_FILES`); docs/cascades.md describes every key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.config import mappings_folder
from connector.errors import MappingError, MappingsUnusable
from connector.mapping import loader
from connector.mapping.checker import RulesChecker
from connector.mapping.errors import MappingErrors, did_you_mean
from connector.model import ORDER_STATUSES, SHIPMENT_STATES, Cart, Customer, Order, Shipment

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.systems.registry import Registry

RULES_FILE = "cascades.yaml"
MEDIUMS = ("email", "sms", "messenger")
TOP_KEYS = ("defaults", "scenarios")
DEFAULT_KEYS = ("quiet_hours", "cap")
SCENARIO_KEYS = ("title", "enabled", "trigger", "steps", "stop", "quiet_hours", "cap")
STEP_KEYS = ("name", "channel", "text", "subject", "template", "variables", "delay",
             "marketing", "language")  # fmt: skip
STOPS = ("order_placed", "cart_bought", "parcel_collected", "unsubscribed", "blocked")

# The triggers the connector's flows emit, with the filters each takes and the records a
# template of its scenario may name. Any other dotted name is a named event (`where:` filters
# its data; `{event.<field>}` in templates).
TRIGGERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cart.left": (("after",), ("cart",)),
    "order.placed": (("after",), ("order",)),
    "order.status": (("status", "after"), ("order",)),
    "shipment.status": (("status", "after"), ("shipment", "order")),
    "segment.entered": (("segment", "after"), ("segment",)),
    "bonus.expiring": (("after",), ("bonus",)),
}
NAMED_KEYS = ("where", "after")
RECORD_FIELDS: dict[str, frozenset[str]] = {
    "customer": frozenset(f.name for f in dataclasses.fields(Customer)),
    "order": frozenset(f.name for f in dataclasses.fields(Order)),
    "cart": frozenset(f.name for f in dataclasses.fields(Cart)),
    "shipment": frozenset(f.name for f in dataclasses.fields(Shipment)) | {"id"},
    "segment": frozenset({"name", "previous"}),
    "bonus": frozenset({"amount", "date"}),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CAP = re.compile(r"^\s*(\d+)\s+per\s+(\S.*)$")


def parse_duration(text: Any) -> float | None:
    """Seconds of `90m`, `3h`, `1d`, `1d12h`, `45s` (or a number of seconds); None if invalid."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if text >= 0 else None
    if not isinstance(text, str) or not text.strip():
        return None
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(days * 86400 + hours * 3600 + minutes * 60 + seconds)


@dataclass(frozen=True)
class QuietHours:
    """No message is sent between `start` and `end` (minutes of the day, in the customer's
    zone); a window like 21:00-09:00 crosses midnight."""

    start: int
    end: int
    text: str

    def holds(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def end_after(self, local: dt.datetime) -> dt.datetime:
        """The first moment at or after `local` outside the window (the window's end)."""
        minute = local.hour * 60 + local.minute
        if not self.holds(minute):
            return local
        end = local.replace(hour=self.end // 60, minute=self.end % 60, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        return end


def parse_quiet_hours(text: Any) -> QuietHours | None:
    """`"21:00-09:00"` -> QuietHours; None when invalid (or empty)."""
    if not isinstance(text, str) or text.count("-") != 1:
        return None
    first, second = (part.strip() for part in text.split("-"))
    a, b = _CLOCK.match(first), _CLOCK.match(second)
    if a is None or b is None:
        return None
    start, end = int(a[1]) * 60 + int(a[2]), int(b[1]) * 60 + int(b[2])
    if start == end:
        return None
    return QuietHours(start, end, f"{first}-{second}")


@dataclass(frozen=True)
class Cap:
    """At most `count` messages per `seconds` to one customer on one medium."""

    medium: str
    count: int
    seconds: float
    text: str


@dataclass(frozen=True)
class Trigger:
    """What starts a run: the event, its filters, and a wait before the first step."""

    event: str
    statuses: frozenset[str] = frozenset()
    segment: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    after: float = 0.0

    @property
    def records(self) -> tuple[str, ...]:
        return ("customer", *TRIGGERS.get(self.event, ((), ("event",)))[1], "event")


@dataclass(frozen=True)
class Step:
    """One message: channels tried in order (the first that can reach her sends)."""

    index: int
    channels: tuple[str, ...]
    name: str
    text: str | None = None
    subject: str | None = None
    template: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    marketing: bool = True
    language: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Scenario:
    """One scenario of the file."""

    name: str
    trigger: Trigger
    steps: tuple[Step, ...]
    title: str = ""
    enabled: bool = True
    stops: frozenset[str] = frozenset()
    quiet_hours: QuietHours | None = None
    caps: Mapping[str, Cap] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class CascadeRules:
    """The scenarios in force; `CascadeRules()` (none) when no file exists."""

    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    file: str | None = None

    def enabled(self) -> list[Scenario]:
        return [s for s in self.scenarios.values() if s.enabled]

    def get(self, name: str) -> Scenario | None:
        return self.scenarios.get(name)


# -- templates ------------------------------------------------------------------------------


def template_fields(text: str) -> list[str]:
    """The `{...}` fields of a template (ValueError for a broken brace)."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


class _Safe(string.Formatter):
    """Only `{record.field}` or `{variable}` lookups, no attribute access, indexing or code; a
    field without a value renders empty (or as itself, `{name}`, for a dry run)."""

    def __init__(self, keep_missing: bool = False) -> None:
        self.keep_missing = keep_missing

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if field_name not in kwargs and self.keep_missing:
            return f"{{{field_name}}}", field_name
        return kwargs.get(field_name, ""), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        return "" if value is None else str(value)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return value


def render(text: str | None, context: Mapping[str, Any], keep_missing: bool = False) -> str | None:
    """`text` with its fields filled from `context` (flat: `"customer.first_name": "Anna"`)."""
    if text is None:
        return None
    return _Safe(keep_missing).vformat(text, (), dict(context))


# -- loading ------------------------------------------------------------------------------------


def rules_path(mappings_dir: str | None = None) -> str:
    """`<mappings folder>/cascades.yaml`; a folder without it has no scenarios."""
    return os.path.join(mappings_folder(mappings_dir), RULES_FILE)


def _display(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def validate_rules_file(path: str) -> list[MappingError]:
    """Every problem of the scenarios file, for `connector mappings validate`."""
    return check_rules_file(path)[1]


def check_rules_file(
    path: str, systems: Registry | None = None
) -> tuple[CascadeRules | None, list[MappingError]]:
    document, errors = loader.read(path, _display(path))
    if document is None or errors:
        return None, errors
    return check_document(document, systems)


def check_text(
    text: str, file: str, systems: Registry | None = None
) -> tuple[CascadeRules | None, list[MappingError]]:
    document, errors = loader.parse(text, file)
    if document is None or errors:
        return None, errors
    return check_document(document, systems)


def check_document(
    document: loader.Document, systems: Registry | None = None
) -> tuple[CascadeRules | None, list[MappingError]]:
    if systems is None:
        from connector.systems.registry import Registry

        systems = Registry.discover()
    checker = _Checker(document, systems)
    rules = checker.rules()
    return (None if checker.errors else rules), checker.errors


def load_rules(path: str, systems: Registry | None = None) -> CascadeRules:
    """Reads and checks a scenarios file; raises MappingErrors listing every problem."""
    rules, errors = check_rules_file(path, systems)
    if errors or rules is None:
        raise MappingErrors(errors)
    return rules


def rules_for(settings: Settings, systems: Registry | None = None) -> CascadeRules:
    """The scenarios of the running connector, re-read when the file changes; while the admin's
    edit is invalid, tasks wait for the fix (`MappingsUnusable`) instead of dying. Channels are
    checked against the discovered systems, as `connector mappings validate` checks them."""
    path = rules_path(getattr(settings, "mappings_dir", None))
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        return CascadeRules()
    try:
        return _cached_rules(path, changed, systems)
    except MappingErrors as error:
        raise MappingsUnusable(
            f"the cascade scenarios are invalid ({error}); waiting for the fix", 60.0, error.errors
        ) from None


@functools.lru_cache(maxsize=16)
def _cached_rules(path: str, changed: int, systems: Registry | None) -> CascadeRules:
    return load_rules(path, systems)


# -- the checker --------------------------------------------------------------------------------


class _Checker(RulesChecker):
    """Walks cascades.yaml, collecting a located error for each problem instead of stopping."""

    def __init__(self, document: loader.Document, systems: Registry) -> None:
        super().__init__(document, "cascades")
        self.systems = systems

    def rules(self) -> CascadeRules:
        data = self.document.data
        if not isinstance(data, dict) or "cascades" not in data:
            self.fail((), "a cascades file starts with `cascades:`")
            return CascadeRules()
        self.mapping(data, (), ("cascades",))
        at: tuple[Any, ...] = ("cascades",)
        top = self.mapping(data["cascades"], at, TOP_KEYS)
        defaults = self.mapping(top.get("defaults"), (*at, "defaults"), DEFAULT_KEYS)
        quiet = self.quiet(defaults.get("quiet_hours"), (*at, "defaults", "quiet_hours"), None)
        caps = self.caps(defaults.get("cap"), (*at, "defaults", "cap"), {})
        scenarios: dict[str, Scenario] = {}
        table = self.mapping(top.get("scenarios"), (*at, "scenarios"), ())
        for name, spec in table.items():
            where = (*at, "scenarios", name)
            if not isinstance(name, str) or not _NAME.match(name):
                self.fail(where, f"scenario name {name!r}: a-z, 0-9 and _, starting with a letter")
                continue
            scenario = self.scenario(name, spec, where, quiet, caps)
            if scenario is not None:
                scenarios[name] = scenario
        return CascadeRules(scenarios, self.document.file)

    def scenario(
        self,
        name: str,
        spec: Any,
        at: tuple[Any, ...],
        quiet: QuietHours | None,
        caps: dict[str, Cap],
    ) -> Scenario | None:
        if not isinstance(spec, dict):
            self.fail(at, "must be a mapping (trigger, steps, ...)")
            return None
        before = len(self.errors)
        self.mapping(spec, at, SCENARIO_KEYS)
        enabled = spec.get("enabled", True)
        if not isinstance(enabled, bool):
            self.fail((*at, "enabled"), f"must be true or false, not {enabled!r}")
        title = spec.get("title", name)
        if not isinstance(title, str):
            self.fail((*at, "title"), "must be text")
        trigger = self.trigger(spec.get("trigger"), (*at, "trigger"))
        stops = self.stops(spec.get("stop"), (*at, "stop"))
        scenario_quiet = self.quiet(spec.get("quiet_hours"), (*at, "quiet_hours"), quiet)
        scenario_caps = {**caps, **self.caps(spec.get("cap"), (*at, "cap"), {})}
        steps = self.steps(spec.get("steps"), (*at, "steps"), trigger)
        if trigger is None or len(self.errors) > before:
            return None
        return Scenario(
            name=name,
            trigger=trigger,
            steps=tuple(steps),
            title=str(title),
            enabled=bool(enabled),
            stops=stops,
            quiet_hours=scenario_quiet,
            caps=scenario_caps,
            line=self.document.line(at),
        )

    # -- trigger ------------------------------------------------------------------------------

    def trigger(self, value: Any, at: tuple[Any, ...]) -> Trigger | None:
        if value is None:
            self.fail(at, "each scenario needs a trigger (an event: cart.left, order.status...)")
            return None
        if isinstance(value, str):
            value = {"event": value}
        if not isinstance(value, dict):
            self.fail(at, "must be an event name or a mapping with `event:`")
            return None
        event = value.get("event")
        if not isinstance(event, str) or not _EVENT.match(event):
            self.fail((*at, "event"), f"must be an event name like cart.left, not {event!r}")
            return None
        allowed = TRIGGERS[event][0] if event in TRIGGERS else NAMED_KEYS
        self.mapping(value, at, ("event", *allowed))
        after = 0.0
        if "after" in value:
            seconds = parse_duration(value["after"])
            if seconds is None:
                self.fail((*at, "after"), f"must be a duration like 60m, 3h or 1d, not "
                          f"{value['after']!r}")  # fmt: skip
            else:
                after = seconds
        elif event == "cart.left":
            self.fail((*at, "after"), "how long a cart must be left first, e.g. `after: 60m`")
        statuses: set[str] = set()
        if "status" in value or event in ("order.status", "shipment.status"):
            known = ORDER_STATUSES if event == "order.status" else SHIPMENT_STATES
            given = value.get("status")
            items = given if isinstance(given, list) else [given]
            if given is None or not items:
                self.fail((*at, "status"), f"which status starts it: one of {', '.join(known)}")
            for index, item in enumerate(items):
                where = (*at, "status", index) if isinstance(given, list) else (*at, "status")
                if item is None:
                    continue
                if item not in known:
                    self.fail(where, f"unknown status {item!r}{did_you_mean(str(item), known)}")
                else:
                    statuses.add(str(item))
        segment = value.get("segment")
        if event == "segment.entered" and (not isinstance(segment, str) or not segment.strip()):
            self.fail((*at, "segment"), "which segment starts it (a name of analytics.yaml)")
        where_filter = value.get("where") or {}
        if not isinstance(where_filter, dict):
            self.fail((*at, "where"), "must be a mapping of event fields and values")
            where_filter = {}
        return Trigger(event, frozenset(statuses), segment, dict(where_filter), after)

    def stops(self, value: Any, at: tuple[Any, ...]) -> frozenset[str]:
        if value is None:
            return frozenset()
        items = value if isinstance(value, list) else [value]
        found = set()
        for index, item in enumerate(items):
            where = (*at, index) if isinstance(value, list) else at
            if item not in STOPS:
                self.fail(where, f"unknown stop condition {item!r}{did_you_mean(str(item), STOPS)}"
                          f" (one of {', '.join(STOPS)})")  # fmt: skip
            else:
                found.add(str(item))
        return frozenset(found)

    def quiet(
        self, value: Any, at: tuple[Any, ...], default: QuietHours | None
    ) -> QuietHours | None:
        if value is None:
            return default
        if value is False or value == "none":
            return None
        parsed = parse_quiet_hours(value)
        if parsed is None:
            self.fail(at, f'must be a window "HH:MM-HH:MM" like "21:00-09:00", not {value!r}')
            return default
        return parsed

    def caps(self, value: Any, at: tuple[Any, ...], default: dict[str, Cap]) -> dict[str, Cap]:
        table = self.mapping(value, at, MEDIUMS)
        found = dict(default)
        for medium, text in table.items():
            if medium not in MEDIUMS:
                continue
            match = _CAP.match(text) if isinstance(text, str) else None
            seconds = parse_duration(match[2]) if match else None
            if match is None or not seconds or int(match[1]) < 1:
                self.fail((*at, medium), f'must read "N per PERIOD" like "2 per 7d", not {text!r}')
                continue
            found[medium] = Cap(medium, int(match[1]), seconds, text.strip())
        return found

    # -- steps --------------------------------------------------------------------------------

    def steps(self, value: Any, at: tuple[Any, ...], trigger: Trigger | None) -> list[Step]:
        if not isinstance(value, list) or not value:
            self.fail(at, "must be a list of steps (channel, text or template, delay)")
            return []
        found = []
        for index, item in enumerate(value):
            step = self.step(index, item, (*at, index), trigger)
            if step is not None:
                found.append(step)
        return found

    def step(
        self, index: int, value: Any, at: tuple[Any, ...], trigger: Trigger | None
    ) -> Step | None:
        if not isinstance(value, dict):
            self.fail(at, "must be a mapping (channel, text, delay...)")
            return None
        self.mapping(value, at, STEP_KEYS)
        channels = self.channels(value.get("channel"), (*at, "channel"))
        if not any(value.get(key) for key in ("text", "template", "subject")):
            self.fail(at, "a step needs a text, a subject or a template")
        texts: dict[str, str | None] = {}
        for key in ("text", "subject", "template", "language"):
            item = value.get(key)
            if item is not None and not isinstance(item, str):
                self.fail((*at, key), "must be text")
                item = None
            texts[key] = item
        variables = value.get("variables") or {}
        if not isinstance(variables, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in variables.values()
        ):
            self.fail((*at, "variables"), "must be a mapping of names to texts")
            variables = {}
        variables = {str(k): str(v) for k, v in variables.items()}
        for key in ("text", "subject"):
            if texts[key]:
                self.fields(texts[key] or "", (*at, key), trigger, channels)
        for name, text in variables.items():
            self.fields(text, (*at, "variables", name), trigger, channels)
        delay = 0.0
        if "delay" in value:
            seconds = parse_duration(value["delay"])
            if seconds is None:
                self.fail((*at, "delay"), f"must be a duration like 60m, 3h or 1d, not "
                          f"{value['delay']!r}")  # fmt: skip
            else:
                delay = seconds
        marketing = value.get("marketing", True)
        if not isinstance(marketing, bool):
            self.fail((*at, "marketing"), f"must be true or false, not {marketing!r}")
            marketing = True
        name = value.get("name") or f"step {index + 1}"
        return Step(
            index=index,
            channels=tuple(channels),
            name=str(name),
            text=texts["text"],
            subject=texts["subject"],
            template=texts["template"],
            variables=variables,
            delay=delay,
            marketing=marketing,
            language=texts["language"],
            line=self.document.line(at),
        )

    def channels(self, value: Any, at: tuple[Any, ...]) -> list[str]:
        if value is None:
            self.fail(at, "which channel sends it (a system name, or a list to try in order)")
            return []
        items = value if isinstance(value, list) else [value]
        found = []
        names = self.systems.names()
        for index, item in enumerate(items):
            where = (*at, index) if isinstance(value, list) else at
            if not isinstance(item, str) or item not in self.systems:
                self.fail(where, f"unknown system {item!r}{did_you_mean(str(item), names)}")
                continue
            if self.systems.get(item).channel is None:
                channels = [s.name for s in self.systems if s.channel is not None]
                self.fail(
                    where,
                    f"{item} is not a message channel (channels: {', '.join(channels) or 'none'})",
                )
                continue
            found.append(item)
        return found

    def fields(
        self,
        text: str,
        at: tuple[Any, ...],
        trigger: Trigger | None,
        channels: Iterable[str],
    ) -> None:
        try:
            names = template_fields(text)
        except ValueError as error:
            self.fail(at, f"broken template ({error}); write {{{{ and }}}} for a brace")
            return
        records = trigger.records if trigger is not None else tuple(RECORD_FIELDS)
        variables = self.channel_variables(channels)
        for name in names:
            record, dot, part = name.partition(".")
            if not dot:
                if name in variables or (variables and None in variables):
                    continue
                self.fail(
                    at,
                    f"unknown field {{{name}}}: write {{record.field}} "
                    f"({', '.join(sorted(set(records)))})",
                )
                continue
            if record not in records:
                self.fail(
                    at,
                    f"{{{name}}}: a {trigger.event if trigger else ''} scenario has no {record}"
                    f" (it has {', '.join(sorted(set(records)))})",
                )
                continue
            if record == "event":
                continue
            known = RECORD_FIELDS[record]
            if part not in known:
                self.fail(at, f"unknown field {{{name}}}{did_you_mean(part, sorted(known))}")

    def channel_variables(self, channels: Iterable[str]) -> set[str | None]:
        """The bare `{names}` the step's channels fill (`Channel.variables`): their declared
        `VARIABLES`, or None (anything) for a channel with `variables` that declares none."""
        from connector.systems.registry import resolve

        found: set[str | None] = set()
        for name in channels:
            try:
                channel = resolve(self.systems.get(name).channel)
            except Exception:  # noqa: BLE001 - a broken channel package is its own error
                continue
            if getattr(channel, "variables", None) is None:
                continue
            declared = getattr(channel, "VARIABLES", None)
            found.update(declared if declared is not None else {None})
        return found
