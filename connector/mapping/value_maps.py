"""Value maps: enumerations translated both ways (order status <-> deal stage, carrier codes).

A value map file (`mappings/bitrix24/stage_map.yaml`) has `pairs` used in both directions (canonical
key -> system value; the first pair wins when several canonical values share one system value), `in`
and `out` for one-way extras, and `unmapped` saying, per direction, what an unknown value does:
`error` (the task fails and names the file), `keep` (passed through) or `{use: VALUE}`.
System values are compared as text, so a carrier's `9` and `"9"` are the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.errors import MappingError
from connector.model import ORDER_STATUSES, SHIPMENT_STATES

CANONICAL_DOMAINS: dict[str, tuple[Any, ...]] = {
    "order_status": ORDER_STATUSES,
    "shipment_state": SHIPMENT_STATES,
    "boolean": (True, False, None),
}
"""Named sets of canonical values a value map may promise to stay within (`canonical_values:`)."""


@dataclass(frozen=True)
class Unmapped:
    """What to do with a value that no entry covers: `error`, `keep` or use a fixed value."""

    action: str
    value: Any = None


@dataclass
class ValueMap:
    """One enumeration of one system; `to_system` / `to_canonical` are used per record."""

    name: str
    system: str
    to_system_table: dict[Any, str]
    to_canonical_table: dict[str, Any]
    unmapped_in: Unmapped
    unmapped_out: Unmapped
    strip_prefix_before: str | None = None
    file: str | None = None
    line: int | None = None
    description: str = ""
    canonical_values: str | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def to_system(self, value: Any) -> Any:
        """Canonical value -> system value, e.g. `processing` -> `EXECUTING`."""
        try:
            return self.to_system_table[value]
        except (KeyError, TypeError):
            pass
        if value is None:
            return None
        return self._unmapped(self.unmapped_out, value, "to the system")

    def to_canonical(self, value: Any) -> Any:
        """System value -> canonical value; `C1:WON` tries `WON` if `strip_prefix_before` is `:`."""
        if value is None:
            return None
        key = value if isinstance(value, str) else _text(value)
        found = self.to_canonical_table.get(key, _NOT_FOUND)
        if found is _NOT_FOUND and self.strip_prefix_before and self.strip_prefix_before in key:
            found = self.to_canonical_table.get(
                key.split(self.strip_prefix_before, 1)[1], _NOT_FOUND
            )
        if found is not _NOT_FOUND:
            return found
        return self._unmapped(self.unmapped_in, value, "from the system")

    def _unmapped(self, rule: Unmapped, value: Any, way: str) -> Any:
        if rule.action == "keep":
            return value
        if rule.action == "use":
            return rule.value
        raise MappingError(
            f"no entry for {value!r} {way} in value map {self.name!r}; add it to {self.file}",
            file=self.file,
            line=self.line,
            field=self.name,
        )

    def entries(self) -> list[tuple[str, Any, Any]]:
        """(direction, canonical, system) rows for `connector mappings show`."""
        rows = []
        for canonical, system in self.to_system_table.items():
            back = self.to_canonical_table.get(system, _NOT_FOUND)
            rows.append(("both" if back == canonical else "out", canonical, system))
        for system, canonical in self.to_canonical_table.items():
            if self.to_system_table.get(canonical) != system:
                rows.append(("in", canonical, system))
        return rows


_NOT_FOUND = object()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_unmapped(raw: Any) -> Unmapped:
    """`error` | `keep` | `{use: VALUE}` -> Unmapped; raises ValueError with a hint otherwise."""
    if raw in ("error", "keep"):
        return Unmapped(raw)
    if isinstance(raw, dict) and set(raw) == {"use"}:
        return Unmapped("use", raw["use"])
    raise ValueError("must be 'error', 'keep' or {use: VALUE}")


def build(data: dict[str, Any], system: str, file: str, line: int | None) -> ValueMap:
    """Builds a ValueMap from a validated file body."""
    to_system: dict[Any, str] = {}
    to_canonical: dict[str, Any] = {}
    for canonical, value in (data.get("pairs") or {}).items():
        to_system.setdefault(canonical, _text(value))
        to_canonical.setdefault(_text(value), canonical)
    for canonical, value in (data.get("out") or {}).items():
        to_system[canonical] = _text(value)
    for value, canonical in (data.get("in_") or {}).items():
        to_canonical[_text(value)] = canonical
    unmapped = data["unmapped"]
    return ValueMap(
        name=data["value_map"],
        system=system,
        to_system_table=to_system,
        to_canonical_table=to_canonical,
        unmapped_in=parse_unmapped(unmapped["in_"]),
        unmapped_out=parse_unmapped(unmapped["out"]),
        strip_prefix_before=data.get("strip_prefix_before"),
        file=file,
        line=line,
        description=data.get("description", ""),
        canonical_values=data.get("canonical_values"),
    )
