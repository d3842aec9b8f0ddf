"""Analytics rules admins edit (`mappings/analytics.yaml`), with errors naming file:line:field.

What counts as a purchase, how R, F and M are scored (fixed thresholds or quantiles), the R-F
segment grid, the prediction horizon, and which figure goes to which Bitrix24 contact field and
Mailchimp merge field, tag and member event. The file shares the mappings folder and the
`connector mappings validate` run (`connector.mapping.schema.RULES_FILES`).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connector.config import mappings_folder
from connector.errors import MappingError, MappingsUnusable
from connector.mapping import loader
from connector.mapping.checker import RulesChecker
from connector.mapping.errors import MappingErrors, did_you_mean
from connector.model import ORDER_STATUSES

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.systems.bitrix24.client import UserField
    from connector.systems.mailchimp.client import MergeField

RULES_FILE = "analytics.yaml"
SCORES = (1, 2, 3, 4, 5)
EVENT_MAX = 30  # Mailchimp member event names are 2-30 characters
TAG_MAX = 100  # Mailchimp tag names are at most 100 characters
_UF_NAME = re.compile(r"^UF_CRM_[A-Z0-9_]{1,43}$")
_MERGE_TAG = re.compile(r"^[A-Z0-9_]{1,10}$")
_EVENT = re.compile(r"^[a-z0-9_-]*$")

# The figures a customer has, with the Bitrix24 field type and Mailchimp merge type of each.
FIGURES: dict[str, tuple[str, str, str]] = {
    "orders_count": ("integer", "number", "Orders"),
    "revenue": ("double", "number", "Lifetime value"),
    "average_check": ("double", "number", "Average check"),
    "first_order_at": ("date", "date", "First order"),
    "last_order_at": ("date", "date", "Last order"),
    "mean_days_between": ("double", "number", "Days between orders"),
    "favourite_channel": ("string", "text", "Favourite channel"),
    "favourite_category": ("string", "text", "Favourite category"),
    "r": ("integer", "number", "Recency score"),
    "f": ("integer", "number", "Frequency score"),
    "m": ("integer", "number", "Monetary score"),
    "rfm": ("string", "text", "RFM score"),
    "segment": ("string", "text", "RFM segment"),
    "segment_since": ("date", "date", "In segment since"),
    "p_alive": ("double", "number", "Probability active"),
    "expected_orders": ("double", "number", "Expected orders"),
}
TOP_KEYS = (
    "lookback_days",
    "counted_statuses",
    "excluded_statuses",
    "channel_field",
    "category_field",
    "scores",
    "segments",
    "prediction",
    "publish",
    "bitrix24",
    "mailchimp",
)
SCORE_KINDS = {"recency": ("days", "quantiles"), "frequency": ("orders", "quantiles"),
               "monetary": ("amount", "quantiles")}  # fmt: skip


@dataclass(frozen=True)
class Score:
    """How one of R, F, M is scored: four fixed thresholds, best first, or quintiles.

    Recency thresholds are days (at most this many days since the last order scores 5, 4, ...);
    frequency and monetary thresholds are minimums (at least this many orders / this amount).
    """

    kind: str  # days | orders | amount | quantiles
    thresholds: tuple[Decimal, ...] = ()

    @property
    def quantiles(self) -> bool:
        return self.kind == "quantiles"


@dataclass(frozen=True)
class Segment:
    """A row of the R-F grid: the segment `name` holds for these R and F scores."""

    name: str
    r: frozenset[int] = frozenset(SCORES)
    f: frozenset[int] = frozenset(SCORES)
    line: int | None = None

    def holds(self, r: int, f: int) -> bool:
        return r in self.r and f in self.f

    def why(self) -> str:
        return f"R {_span(self.r)}, F {_span(self.f)}"


def _span(scores: frozenset[int]) -> str:
    ordered = sorted(scores)
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(s) for s in ordered)


def slug(name: str) -> str:
    """A segment name as an event name part: `At risk` -> `at_risk`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


DEFAULT_SEGMENTS = (
    Segment("Champions", frozenset({5}), frozenset({4, 5})),
    Segment("Loyal", frozenset({3, 4}), frozenset({4, 5})),
    Segment("Potential loyalists", frozenset({4, 5}), frozenset({2, 3})),
    Segment("New customers", frozenset({5}), frozenset({1})),
    Segment("Promising", frozenset({4}), frozenset({1})),
    Segment("Need attention", frozenset({3}), frozenset({3})),
    Segment("About to sleep", frozenset({3}), frozenset({1, 2})),
    Segment("At risk", frozenset({1, 2}), frozenset({3, 4})),
    Segment("Cannot lose them", frozenset({1, 2}), frozenset({5})),
    Segment("Hibernating", frozenset({1, 2}), frozenset({1, 2})),
)


def _fixed(kind: str, *values: int) -> Score:
    return Score(kind, tuple(Decimal(v) for v in values))


@dataclass(frozen=True)
class AnalyticsRules:
    """The rules in force; `AnalyticsRules()` are the defaults used when no file exists."""

    lookback_days: int = 730
    counted_statuses: frozenset[str] = frozenset(
        {"processing", "shipped", "delivered", "completed"}
    )
    excluded_statuses: frozenset[str] = frozenset({"cancelled", "refunded", "failed"})
    channel_field: str = "custom.channel"
    category_field: str = "custom.category"
    recency: Score = field(default_factory=lambda: _fixed("days", 30, 60, 90, 180))
    frequency: Score = field(default_factory=lambda: _fixed("orders", 10, 5, 3, 2))
    monetary: Score = field(default_factory=lambda: Score("quantiles"))
    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS
    horizon_days: int = 90
    min_repeat_customers: int = 20
    coalesce_seconds: float = 5.0
    bitrix24: dict[str, str] = field(default_factory=dict)
    mailchimp_fields: dict[str, str] = field(default_factory=dict)
    tag_prefix: str = "RFM: "
    event_prefix: str = "rfm_"
    file: str | None = None

    def segment_of(self, r: int, f: int) -> Segment:
        for segment in self.segments:
            if segment.holds(r, f):
                return segment
        raise AssertionError(f"the grid leaves R {r} F {f} uncovered")  # checked on load

    def tag(self, segment: str) -> str:
        return f"{self.tag_prefix}{segment}"

    def event(self, segment: str) -> str:
        return f"{self.event_prefix}{slug(segment)}"[:EVENT_MAX]


# -- loading ------------------------------------------------------------------------------------


def rules_path(mappings_dir: str | None = None) -> str:
    """`<mappings folder>/analytics.yaml` (the bundled folder's when none is configured). A
    folder without the file gets `AnalyticsRules()`: figures and segments, but no field of
    Bitrix24 or Mailchimp is written until the admin names them."""
    return os.path.join(mappings_folder(mappings_dir), RULES_FILE)


def validate_rules_file(path: str) -> list[MappingError]:
    """Every problem of the rules file, for `connector mappings validate` (empty when valid)."""
    return check_rules_file(path)[1]


def check_rules_file(path: str) -> tuple[AnalyticsRules | None, list[MappingError]]:
    relative = os.path.relpath(path)
    display = path if relative.startswith("..") else relative
    document, errors = loader.read(path, display)
    if document is None or errors:
        return None, errors
    return check_document(document)


def check_text(text: str, file: str) -> tuple[AnalyticsRules | None, list[MappingError]]:
    document, errors = loader.parse(text, file)
    if document is None or errors:
        return None, errors
    return check_document(document)


def check_document(document: loader.Document) -> tuple[AnalyticsRules | None, list[MappingError]]:
    checker = _Checker(document)
    rules = checker.rules()
    return (None if checker.errors else rules), checker.errors


def load_rules(path: str) -> AnalyticsRules:
    """Reads and checks a rules file; raises MappingErrors listing every problem."""
    rules, errors = check_rules_file(path)
    if errors or rules is None:
        raise MappingErrors(errors)
    return rules


def rules_for(settings: Settings) -> AnalyticsRules:
    """The rules of the running connector, re-read when the file changes; while the admin's
    edit is invalid, tasks wait for the fix (`MappingsUnusable`) instead of dying."""
    path = rules_path(getattr(settings, "mappings_dir", None))
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        return AnalyticsRules()
    try:
        return _cached_rules(path, changed)
    except MappingErrors as error:
        raise MappingsUnusable(
            f"the analytics rules are invalid ({error}); waiting for the fix", 60.0, error.errors
        ) from None


@functools.lru_cache(maxsize=16)
def _cached_rules(path: str, changed: int) -> AnalyticsRules:
    return load_rules(path)


# -- what `connector setup` creates -----------------------------------------------------------


def _setup_rules(mappings_dir: Any) -> AnalyticsRules | None:
    path = rules_path(os.fspath(mappings_dir) if mappings_dir is not None else None)
    return check_rules_file(path)[0] if os.path.exists(path) else None


def user_fields(mappings_dir: Any) -> list[UserField]:
    """The Bitrix24 contact fields the rules write (for `connector setup bitrix24`)."""
    from connector.systems.bitrix24.client import UserField

    rules = _setup_rules(mappings_dir)
    if rules is None:
        return []
    return [
        UserField(name, FIGURES[figure][0], FIGURES[figure][2])
        for figure, name in rules.bitrix24.items()
    ]


def merge_fields(mappings_dir: Any) -> list[MergeField]:
    """The Mailchimp merge fields the rules write (for `connector setup mailchimp`)."""
    from connector.systems.mailchimp.client import MergeField

    rules = _setup_rules(mappings_dir)
    if rules is None:
        return []
    return [
        MergeField(tag, FIGURES[figure][2], FIGURES[figure][1])
        for figure, tag in rules.mailchimp_fields.items()
    ]


# -- the checker --------------------------------------------------------------------------------


class _Checker(RulesChecker):
    """Walks analytics.yaml, collecting a located error for each problem instead of stopping."""

    def __init__(self, document: loader.Document) -> None:
        super().__init__(document, "analytics")

    def whole(self, value: Any, location: tuple[Any, ...], default: int, least: int = 0) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            self.fail(location, f"must be a whole number of {least} or more, not {value!r}")
            return default
        return value

    def text(self, value: Any, location: tuple[Any, ...], default: str) -> str:
        if value is None:
            return default
        if not isinstance(value, str):
            self.fail(location, f"must be text, not {value!r}")
            return default
        return value

    def statuses(self, value: Any, location: tuple[Any, ...], default: frozenset[str]) -> frozenset:
        if value is None:
            return default
        if not isinstance(value, list):
            self.fail(location, "must be a list of order statuses")
            return default
        good = set()
        for index, status in enumerate(value):
            if status not in ORDER_STATUSES:
                self.fail(
                    (*location, index),
                    f"unknown order status {status!r}{did_you_mean(str(status), ORDER_STATUSES)}",
                )
            else:
                good.add(status)
        return frozenset(good)

    # -- the file ---------------------------------------------------------------------------

    def rules(self) -> AnalyticsRules:
        data = self.document.data
        if not isinstance(data, dict) or "analytics" not in data:
            self.fail((), "an analytics rules file starts with `analytics:`")
            return AnalyticsRules()
        self.mapping(data, (), ("analytics",))
        at: tuple[Any, ...] = ("analytics",)
        top = self.mapping(data["analytics"], at, TOP_KEYS)
        base = AnalyticsRules()
        counted = self.statuses(
            top.get("counted_statuses"), (*at, "counted_statuses"), base.counted_statuses
        )
        excluded = self.statuses(
            top.get("excluded_statuses"), (*at, "excluded_statuses"), base.excluded_statuses
        )
        for status in sorted(counted & excluded):
            index = list(top["counted_statuses"]).index(status)
            self.fail((*at, "counted_statuses", index), f"{status!r} is also excluded")
        scores = self.mapping(top.get("scores"), (*at, "scores"), tuple(SCORE_KINDS))
        recency = self.score(scores.get("recency"), (*at, "scores", "recency"), base.recency)
        frequency = self.score(
            scores.get("frequency"), (*at, "scores", "frequency"), base.frequency
        )
        monetary = self.score(scores.get("monetary"), (*at, "scores", "monetary"), base.monetary)
        prediction = self.mapping(
            top.get("prediction"), (*at, "prediction"), ("horizon_days", "min_repeat_customers")
        )
        publish = self.mapping(top.get("publish"), (*at, "publish"), ("coalesce_seconds",))
        coalesce = publish.get("coalesce_seconds", base.coalesce_seconds)
        if isinstance(coalesce, bool) or not isinstance(coalesce, int | float) or coalesce < 0:
            self.fail(
                (*at, "publish", "coalesce_seconds"), "must be a number of seconds, 0 or more"
            )
            coalesce = base.coalesce_seconds
        mailchimp = self.mapping(
            top.get("mailchimp"), (*at, "mailchimp"), ("merge_fields", "tag_prefix", "event_prefix")
        )
        segments = self.segments(top.get("segments"), (*at, "segments"))
        tag_prefix = self.text(mailchimp.get("tag_prefix"), (*at, "mailchimp", "tag_prefix"),
                               base.tag_prefix)  # fmt: skip
        event_prefix = self.text(
            mailchimp.get("event_prefix"), (*at, "mailchimp", "event_prefix"), base.event_prefix
        )
        self.names(segments, tag_prefix, event_prefix, at)
        return AnalyticsRules(
            lookback_days=self.whole(top.get("lookback_days"), (*at, "lookback_days"), 730),
            counted_statuses=counted,
            excluded_statuses=excluded,
            channel_field=self.text(
                top.get("channel_field"), (*at, "channel_field"), base.channel_field
            ),
            category_field=self.text(
                top.get("category_field"), (*at, "category_field"), base.category_field
            ),
            recency=recency,
            frequency=frequency,
            monetary=monetary,
            segments=tuple(segments) or base.segments,
            horizon_days=self.whole(
                prediction.get("horizon_days"), (*at, "prediction", "horizon_days"), 90, 1
            ),
            min_repeat_customers=self.whole(
                prediction.get("min_repeat_customers"),
                (*at, "prediction", "min_repeat_customers"),
                20,
                3,
            ),
            coalesce_seconds=float(coalesce),
            bitrix24=self.targets(
                top.get("bitrix24"),
                (*at, "bitrix24"),
                _UF_NAME,
                "UF_CRM_ + A-Z, 0-9, _ (50 characters at most)",
            ),  # fmt: skip
            mailchimp_fields=self.targets(
                mailchimp.get("merge_fields"),
                (*at, "mailchimp", "merge_fields"),
                _MERGE_TAG,
                "A-Z, 0-9, _ (10 characters at most)",
            ),
            tag_prefix=tag_prefix,
            event_prefix=event_prefix,
            file=self.document.file,
        )

    def score(self, value: Any, location: tuple[Any, ...], default: Score) -> Score:
        name = location[-1]
        kinds = SCORE_KINDS[name]
        spec = self.mapping(value, location, kinds)
        if value is None:
            return default
        if len(spec) != 1 or next(iter(spec)) not in kinds:
            if spec and all(k in kinds for k in spec):
                self.fail(location, f"give one of {' or '.join(kinds)}, not both")
            elif not spec:
                self.fail(location, f"give one of {' or '.join(kinds)}")
            return default
        kind, given = next(iter(spec.items()))
        if kind == "quantiles":
            if given != 5:
                self.fail(
                    (*location, kind), f"scores run 1-5, so quantiles must be 5, not {given!r}"
                )
            return Score("quantiles")
        if not isinstance(given, list) or len(given) != 4:
            self.fail((*location, kind), "must be a list of 4 thresholds (for scores 5, 4, 3, 2)")
            return default
        values = []
        for index, item in enumerate(given):
            try:
                number = Decimal(str(item))
            except (InvalidOperation, ValueError):
                number = None
            if isinstance(item, bool) or number is None or not number.is_finite() or number < 0:
                self.fail((*location, kind, index), f"must be a number of 0 or more, not {item!r}")
                return default
            values.append(number)
        rising = kind == "days"  # recency: fewer days is better; the others: more is better
        ordered = all(
            (a < b) if rising else (a > b) for a, b in zip(values, values[1:], strict=False)
        )
        if not ordered:
            way = "rising (30, 60, ...)" if rising else "falling (10, 5, ...)"
            self.fail((*location, kind), f"thresholds go best first, so they must be {way}")
            return default
        return Score(kind, tuple(values))

    def scores_of(self, value: Any, location: tuple[Any, ...]) -> frozenset[int] | None:
        if value is None:
            return frozenset(SCORES)
        items = value if isinstance(value, list) else [value]
        found: set[int] = set()
        for item in items:
            text = str(item).strip()
            match = re.fullmatch(r"([1-5])(?:\s*-\s*([1-5]))?", text)
            if isinstance(item, bool) or match is None:
                self.fail(
                    location, f"must be a score 1-5, a range like 1-2 or a list, not {item!r}"
                )
                return None
            low, high = int(match.group(1)), int(match.group(2) or match.group(1))
            if high < low:
                self.fail(location, f"the range {text!r} runs backwards")
                return None
            found.update(range(low, high + 1))
        return frozenset(found)

    def segments(self, value: Any, location: tuple[Any, ...]) -> list[Segment]:
        if value is None:
            return []
        if not isinstance(value, list) or not value:
            self.fail(location, "must be a list of segments ({name, r, f})")
            return []
        found: list[Segment] = []
        names: dict[str, int] = {}
        for index, item in enumerate(value):
            at = (*location, index)
            row = self.mapping(item, at, ("name", "r", "f"))
            name = row.get("name")
            if not isinstance(name, str) or not name.strip():
                self.fail((*at, "name"), "each segment needs a name")
                continue
            if name in names:
                self.fail(
                    (*at, "name"), f"segment {name!r} is named twice (first: row {names[name]})"
                )
                continue
            names[name] = index + 1
            r = self.scores_of(row.get("r"), (*at, "r"))
            f = self.scores_of(row.get("f"), (*at, "f"))
            if r is not None and f is not None:
                found.append(Segment(name.strip(), r, f, self.document.line(at)))
        if found and len(found) == len(value):
            missing = [
                f"R {r} F {f}"
                for r in SCORES
                for f in SCORES
                if not any(s.holds(r, f) for s in found)
            ]
            if missing:
                shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
                self.fail(
                    location,
                    f"the grid leaves {len(missing)} R-F pair(s) without a segment: {shown}; "
                    "add rows or a last row without r and f",
                )
        return found

    def names(
        self, segments: list[Segment], tag_prefix: str, event_prefix: str, at: tuple[Any, ...]
    ) -> None:
        if not _EVENT.match(event_prefix):
            self.fail((*at, "mailchimp", "event_prefix"), "use a-z, 0-9, _ and - only")
        longest = max((len(slug(s.name)) for s in segments or DEFAULT_SEGMENTS), default=0)
        if len(event_prefix) + longest > EVENT_MAX:
            self.fail(
                (*at, "mailchimp", "event_prefix"),
                f"prefix + segment name must fit Mailchimp's {EVENT_MAX} characters "
                f"(the longest segment name takes {longest})",
            )
        longest_name = max((len(s.name) for s in segments or DEFAULT_SEGMENTS), default=0)
        if len(tag_prefix) + longest_name > TAG_MAX:
            self.fail((*at, "mailchimp", "tag_prefix"), f"tags are at most {TAG_MAX} characters")

    def targets(
        self, value: Any, location: tuple[Any, ...], pattern: re.Pattern[str], rule: str
    ) -> dict[str, str]:
        table = self.mapping(value, location, tuple(FIGURES))
        good: dict[str, str] = {}
        used: dict[str, str] = {}
        for figure, name in table.items():
            if figure not in FIGURES:
                continue
            if not isinstance(name, str) or not pattern.match(name):
                self.fail((*location, figure), f"{name!r} is not a field name: {rule}")
                continue
            if name in used:
                self.fail((*location, figure), f"{name} already holds {used[name]}")
                continue
            used[name] = figure
            good[figure] = name
        return good
