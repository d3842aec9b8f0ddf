"""Applies mapping files: one system record <-> one canonical dict, and the set of all mappings.

`MappingSet.load(dir)` reads every file, reports all problems of all files at once
(`MappingErrors`, built by `builder.py`), and compiles each mapping into rules (`rules.py`).
Flows then call:

    mapping = mappings.get("woocommerce", "order")
    order = mapping.to_canonical(payload)                  # system -> canonical dict
    deal = mappings.get("bitrix24", "deal").to_system(order, existing=current_deal, creating=False)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from connector.errors import MappingError
from connector.mapping.errors import MappingErrors, did_you_mean
from connector.mapping.rules import FieldRule
from connector.mapping.value_maps import ValueMap
from connector.model import ENTITIES, Entity

HUB = "hub"
"""`owner: hub` means the canonical side (the other systems) wins a conflict."""


@dataclass(frozen=True)
class CustomField:
    """A custom field a mapping relies on; setup creates it in the system when it is missing."""

    system: str
    entity: str
    name: str
    type: str
    label: str | None = None
    required: bool = False
    multiple: bool = False
    options: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None


@dataclass
class Mapping:
    """How one system's record of one kind maps to and from a canonical entity."""

    system: str
    entity: str
    canonical: str
    file: str
    rules: list[FieldRule]
    custom_fields: list[CustomField] = field(default_factory=list)
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._in = [(r, r.apply_in) for r in self.rules if r.apply_in is not None]
        self._out = [(r, r.apply_out) for r in self.rules if r.apply_out is not None]

    def to_canonical(
        self, payload: dict[str, Any], conflicts: Collection[str] = ()
    ) -> dict[str, Any]:
        """Maps a system record to a canonical dict holding only the fields this file maps in.

        `conflicts` names canonical fields changed on both sides since the last sync; those owned
        by another system (or the hub) are left out, so merging the result keeps the current value.
        """
        out: dict[str, Any] = {}
        rule = None
        try:
            if conflicts:
                for rule, apply in self._in:
                    if not self._other_owns(rule, conflicts):
                        apply(payload, out, None)
            else:
                for rule, apply in self._in:  # noqa: B007 - `rule` names the failing field
                    apply(payload, out, None)
        except Exception as error:  # noqa: BLE001 - any failure becomes one typed, located error
            raise self._error(rule, error, "in") from error
        return out

    def to_system(
        self,
        canonical: dict[str, Any] | Entity,
        existing: dict[str, Any] | None = None,
        creating: bool = False,
        conflicts: Collection[str] = (),
    ) -> dict[str, Any]:
        """Maps a canonical dict (or entity) to a system record, for a create or an update.

        `existing` is the system's current record: selectors (`PHONE[VALUE_TYPE=WORK]`) start from
        its matching element so ids are kept. `on_create_only` fields are written only when
        `creating`. Fields in `conflicts` owned by this system are left out (the system keeps its
        value).
        """
        if isinstance(canonical, Entity):
            canonical = canonical.to_dict()
        out: dict[str, Any] = {}
        rule = None
        try:
            for rule, apply in self._out:
                if rule.on_create_only and not creating:
                    continue
                if conflicts and rule.owner == self.system and rule.roots & set(conflicts):
                    continue
                apply(canonical, out, existing)
        except Exception as error:  # noqa: BLE001
            raise self._error(rule, error, "out") from error
        return out

    def to_entity(self, payload: dict[str, Any]) -> Entity:
        """Maps a system record straight to the canonical dataclass."""
        return ENTITIES[self.canonical].from_dict(self.to_canonical(payload))

    def owner_of(self, canonical_field: str) -> str | None:
        """Who wins when both sides changed a field: a system's name, `hub`, or None."""
        for rule in self.rules:
            if canonical_field in rule.roots and rule.owner:
                return rule.owner
        return None

    def _other_owns(self, rule: FieldRule, conflicts: Collection[str]) -> bool:
        return bool(rule.owner and rule.owner != self.system and rule.roots & set(conflicts))

    def _error(self, rule: FieldRule | None, error: Exception, way: str) -> MappingError:
        if isinstance(error, MappingError) and rule is None:
            return error
        label = rule.label if rule else "?"
        line = rule.line if rule else None
        arrow = "system -> canonical" if way == "in" else "canonical -> system"
        reason = error.args[0] if isinstance(error, MappingError) and error.args else error
        return MappingError(f"{arrow}: {reason}", file=self.file, line=line, field=label)


def changed_on_both_sides(
    last_synced: dict[str, Any], hub_now: dict[str, Any], system_now: dict[str, Any]
) -> set[str]:
    """Canonical fields both sides changed since the last sync, to pass as `conflicts`.

    `last_synced` is the canonical view written or read at the last sync (what the fingerprint
    stands for); a field counts when present in both current views and different in each.
    """
    return {
        name
        for name in hub_now.keys() & system_now.keys()
        if hub_now[name] != last_synced.get(name)
        and system_now[name] != last_synced.get(name)
        and hub_now[name] != system_now[name]
    }


class MappingSet:
    """Every mapping, value map and custom field of a `mappings/` directory, validated together.

    `sources` holds the text of each file it was built from (path inside the folder, with `/`),
    so the set can be saved and built again (`from_sources`). `on_miss`, when set, may turn the
    error of a lookup that finds nothing into another one (see `ReloadingMappings`).
    """

    def __init__(
        self,
        mappings: dict[tuple[str, str], Mapping],
        value_maps: dict[tuple[str, str], ValueMap],
        directory: str | None = None,
        sources: dict[str, str] | None = None,
    ) -> None:
        self._mappings = mappings
        self._value_maps = value_maps
        self.directory = directory
        self.sources = sources or {}
        self.on_miss: Callable[[MappingError], Exception] | None = None

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> MappingSet:
        """Loads and compiles a directory; raises MappingErrors listing every problem found."""
        result, errors = cls.check(directory)
        if errors or result is None:
            raise MappingErrors(errors)
        return result

    @classmethod
    def check(
        cls, directory: str | os.PathLike[str]
    ) -> tuple[MappingSet | None, list[MappingError]]:
        """Loads a directory and returns (set or None, all errors) without raising."""
        from connector.mapping.builder import Builder  # the builder makes MappingSets

        return Builder(os.fspath(directory)).build()

    @classmethod
    def from_sources(
        cls, sources: dict[str, str], directory: str | os.PathLike[str]
    ) -> tuple[MappingSet | None, list[MappingError]]:
        """Builds a set from saved texts (path inside the folder -> text) as if they were the
        files of `directory`; returns (set or None, all errors) like `check`."""
        from connector.mapping.builder import Builder

        return Builder(os.fspath(directory), given=sources).build()

    def get(self, system: str, entity: str) -> Mapping:
        """A system's mapping by entity (`bitrix24`, `contact`) or canonical name (`customer`)."""
        found = self._mappings.get((system, entity))
        if found is not None:
            return found
        by_canonical = [
            m for (s, _), m in self._mappings.items() if s == system and m.canonical == entity
        ]
        if len(by_canonical) == 1:
            return by_canonical[0]
        names = [e for s, e in self._mappings if s == system]
        if not names:
            hint = did_you_mean(system, self.systems())
            raise self._missing(
                MappingError(f"no mappings for system {system!r}{hint}", field=system)
            )
        raise self._missing(
            MappingError(f"no mapping {system}/{entity}{did_you_mean(entity, names)}", field=entity)
        )

    def value_map(self, system: str, name: str) -> ValueMap:
        """A system's value map by name, e.g. ('bitrix24', 'deal_stage')."""
        found = self._value_maps.get((system, name))
        if found is None:
            names = [n for s, n in self._value_maps if s == system]
            raise self._missing(
                MappingError(f"no value map {system}/{name}{did_you_mean(name, names)}", field=name)
            )
        return found

    def _missing(self, error: MappingError) -> Exception:
        return error if self.on_miss is None else self.on_miss(error)

    def custom_fields(self, system: str) -> list[CustomField]:
        """Custom fields declared in a system's files (Bitrix24 `UF_CRM_*`, merge fields)."""
        return [
            f
            for (s, _), m in sorted(self._mappings.items())
            if s == system
            for f in m.custom_fields
        ]

    def systems(self) -> list[str]:
        return sorted({s for s, _ in self._mappings} | {s for s, _ in self._value_maps})

    def mappings(self) -> Iterator[Mapping]:
        return iter(self._mappings[k] for k in sorted(self._mappings))

    def value_maps(self) -> Iterator[ValueMap]:
        return iter(self._value_maps[k] for k in sorted(self._value_maps))
