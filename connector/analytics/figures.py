"""The figures of one customer, computed from what their orders contribute (no store, no I/O).

`order_fact` turns a hub order into its contribution (counted or not, net amount, channel,
category); `compute` turns a customer's grouped contributions into the figures, R/F/M scores,
the segment and the prediction, given the rules, the time and the nightly run's thresholds.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.analytics.bgnbd import WEEK, BetaGeo
from connector.analytics.rules import AnalyticsRules, Score
from connector.identity import as_moment

DAY = 86400.0
# The figure columns of `customer_figures`, in order.
COLUMNS = (
    "orders_count",
    "revenue",
    "first_order_at",
    "last_order_at",
    "mean_days_between",
    "favourite_channel",
    "favourite_category",
    "r",
    "f",
    "m",
    "segment",
    "p_alive",
    "expected_orders",
)


@dataclass(frozen=True)
class OrderFact:
    """What one order contributes to its buyer's figures."""

    order_id: str
    customer_id: str
    ordered_at: float
    amount: int  # hundredths, net of refunds
    counts: bool
    channel: str | None
    category: str | None


def _cents(value: Any) -> int:
    try:
        return int((Decimal(str(value or 0)) * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        return 0


def _path(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _seconds(value: Any) -> float | None:
    moment = as_moment(value)
    return moment.timestamp() if moment is not None else None


def order_fact(order: Mapping[str, Any], rules: AnalyticsRules, now: float) -> OrderFact | None:
    """The contribution of a hub order; None when it has no buyer."""
    cid, oid = order.get("customer_id"), order.get("id")
    if not cid or not oid:
        return None
    custom = order.get("custom") or {}
    status = order.get("status")
    paid = status in rules.counted_statuses or bool(order.get("paid_at"))
    total = _cents(order.get("total"))
    refunded = abs(_cents(custom.get("refunded_total")))
    amount = max(total - refunded, 0)
    counts = paid and status not in rules.excluded_statuses and not (total > 0 and amount == 0)
    ordered_at = (
        _seconds(order.get("created_at"))
        or _seconds(order.get("paid_at"))
        or _seconds(order.get("updated_at"))
        or now
    )
    channel = _path(order, rules.channel_field) or (custom.get("source") or {}).get("system")
    return OrderFact(
        order_id=str(oid),
        customer_id=str(cid),
        ordered_at=ordered_at,
        amount=amount if counts else 0,
        counts=bool(counts),
        channel=str(channel)[:60] if channel else None,
        category=_category(order.get("lines") or [], rules.category_field),
    )


def _category(lines: Iterable[Any], dotted: str) -> str | None:
    """The category of the order's largest share of money (or of lines, without prices)."""
    weights: Counter[str] = Counter()
    for line in lines:
        if not isinstance(line, Mapping):
            continue
        name = _path(line, dotted)
        if name:
            weights[str(name)[:100]] += max(_cents(line.get("total")), 1)
    return weights.most_common(1)[0][0] if weights else None


@dataclass
class Summary:
    """A customer's counted orders in the look-back period, grouped."""

    customer_id: str
    orders: int = 0
    revenue: int = 0
    first: float | None = None
    last: float | None = None
    channels: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)

    def add(self, channel: Any, category: Any, orders: int, revenue: int, first: Any, last: Any):
        """Adds one group row (channel, category, count, sum, min, max) of the grouped query."""
        self.orders += int(orders or 0)
        self.revenue += int(revenue or 0)
        if first is not None:
            self.first = float(first) if self.first is None else min(self.first, float(first))
        if last is not None:
            self.last = float(last) if self.last is None else max(self.last, float(last))
        if channel:
            self.channels[str(channel)] += int(orders or 0)
        if category:
            self.categories[str(category)] += int(orders or 0)


@dataclass(frozen=True)
class Thresholds:
    """What the nightly run found: quintile cut-offs (of last-order time, order count and
    revenue; four each, ascending) and the fitted model."""

    recency: tuple[float, ...] = ()
    frequency: tuple[float, ...] = ()
    monetary: tuple[float, ...] = ()
    model: BetaGeo | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "recency": list(self.recency),
            "frequency": list(self.frequency),
            "monetary": list(self.monetary),
        }


def _favourite(counter: Counter[str]) -> str | None:
    if not counter:
        return None
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[0][0]


def score(spec: Score, value: float, quantiles: tuple[float, ...], days: float) -> int | None:
    """1-5; fixed thresholds are best first; quantile cut-offs are ascending, higher better."""
    if spec.quantiles:
        if len(quantiles) != 4:
            return None
        return 1 + sum(1 for cut in quantiles if value > cut)
    limits = [float(t) for t in spec.thresholds]
    if spec.kind == "days":
        for index, limit in enumerate(limits):
            if days <= limit:
                return 5 - index
        return 1
    for index, limit in enumerate(limits):
        if value >= limit:
            return 5 - index
    return 1


def compute(
    summary: Summary, rules: AnalyticsRules, now: float, thresholds: Thresholds
) -> dict[str, Any]:
    """The figure columns of one customer (all empty when no order counts)."""
    if summary.orders <= 0 or summary.last is None or summary.first is None:
        return dict.fromkeys(COLUMNS) | {"orders_count": 0, "revenue": 0}
    n, first, last = summary.orders, summary.first, summary.last
    days_since = max(now - last, 0.0) / DAY
    r = score(rules.recency, last, thresholds.recency, days_since)
    f = score(rules.frequency, n, thresholds.frequency, 0)
    m = score(rules.monetary, summary.revenue / 100, thresholds.monetary, 0)
    segment = rules.segment_of(r, f).name if r is not None and f is not None else None
    p_alive = expected = None
    model = thresholds.model
    if model is not None:
        x, t_x, age = n - 1, (last - first) / WEEK, max(now - first, 0.0) / WEEK
        p_alive = round(model.p_alive(x, t_x, age), 2)
        expected = round(model.expected(rules.horizon_days / 7, x, t_x, age), 2)
    return {
        "orders_count": n,
        "revenue": summary.revenue,
        "first_order_at": first,
        "last_order_at": last,
        "mean_days_between": round((last - first) / DAY / (n - 1), 2) if n > 1 else None,
        "favourite_channel": _favourite(summary.channels),
        "favourite_category": _favourite(summary.categories),
        "r": r,
        "f": f,
        "m": m,
        "segment": segment,
        "p_alive": p_alive,
        "expected_orders": expected,
    }


def rfm(values: Mapping[str, Any]) -> str | None:
    if values.get("r") is None or values.get("f") is None:
        return None
    return f"{values['r']}{values['f']}{values.get('m') or 0}"


def _day(value: Any) -> str | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(float(value), dt.UTC).date().isoformat()


def public(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure as it is written out: money as a number, moments as dates."""
    out: dict[str, Any] = {name: values.get(name) for name in COLUMNS}
    out["revenue"] = round((values.get("revenue") or 0) / 100, 2)
    count = values.get("orders_count") or 0
    out["average_check"] = round((values.get("revenue") or 0) / 100 / count, 2) if count else None
    for name in ("first_order_at", "last_order_at", "segment_since"):
        out[name] = _day(values.get(name))
    out["rfm"] = rfm(values)
    return out


def explain(values: Mapping[str, Any], rules: AnalyticsRules, now: float) -> list[str]:
    """Why the customer is in their segment, one line per score and the grid row."""
    if not values.get("orders_count"):
        return ["no counted order in the look-back period: no segment"]
    lines = []
    days = (now - float(values["last_order_at"])) / DAY
    lines.append(f"R {values.get('r')}: last order {days:.0f} days ago ({_rule(rules.recency)})")
    lines.append(f"F {values.get('f')}: {values['orders_count']} orders ({_rule(rules.frequency)})")
    lines.append(
        f"M {values.get('m')}: revenue {values['revenue'] / 100:.2f} ({_rule(rules.monetary)})"
    )
    if values.get("r") is not None and values.get("f") is not None:
        row = rules.segment_of(values["r"], values["f"])
        where = f"{rules.file}:{row.line}" if rules.file and row.line else "the default grid"
        lines.append(f"segment {row.name}: the first grid row for {row.why()} ({where})")
    return lines


def _rule(spec: Score) -> str:
    if spec.quantiles:
        return "by quintiles of the customers, recomputed nightly"
    unit = {"days": "days", "orders": "orders", "amount": "revenue"}[spec.kind]
    limits = ", ".join(format(t, "f") for t in spec.thresholds)
    return f"thresholds for 5..2: {limits} {unit}"
