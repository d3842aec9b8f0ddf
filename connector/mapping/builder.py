"""Loads a `mappings/` directory into a MappingSet, collecting every problem of every file.

Order matters: defaults first (options), then value maps (fields refer to them), then mappings
(compiled with `rules.py`), then checks across files (custom fields used but not declared).
A file with schema errors is still compiled from its valid parts, so its other problems show too.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from connector.errors import MappingError
from connector.mapping import loader, phones, schema, value_maps
from connector.mapping.engine import HUB, CustomField, Mapping, MappingSet
from connector.mapping.errors import did_you_mean
from connector.mapping.rules import RuleError, compile_rule
from connector.mapping.transforms import Context
from connector.mapping.value_maps import ValueMap
from connector.model import ENTITIES

_UF_NAME = re.compile(r"^UF_CRM_[A-Z0-9_]{1,43}$")
_MERGE_TAG = re.compile(r"^[A-Z0-9_]{1,10}$")
_CUSTOM_RULES = {
    # system: (name pattern, what the pattern means, allowed field types)
    "bitrix24": (
        _UF_NAME,
        "UF_CRM_ + A-Z, 0-9, _ (50 characters at most)",
        schema.BITRIX24_FIELD_TYPES,
    ),
    "mailchimp": (_MERGE_TAG, "A-Z, 0-9, _ (10 characters at most)", schema.MAILCHIMP_MERGE_TYPES),
}


@dataclass
class _Parsed:
    document: loader.Document
    kind: str
    data: dict[str, Any]
    system: str
    indexes: list[int] | None = None  # of the fields kept when some were invalid
    broken: bool = False  # checked for more errors, but never used


class Builder:
    """One load: collects every error instead of stopping at the first.

    `given` (path inside the folder, with `/` -> text) builds from those texts instead of the
    files in `directory` (a saved set); messages still name the files as in the folder.
    """

    def __init__(self, directory: str, given: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.given = given
        self.sources: dict[str, str] = {}  # the texts the set is built from, by path
        self.errors: list[MappingError] = []

    def build(self) -> tuple[MappingSet | None, list[MappingError]]:
        if self.given is None and not os.path.isdir(self.directory):
            return None, [MappingError("not a directory", file=self.directory)]
        parsed = [p for p in (self._parse(path) for path in self._files()) if p is not None]
        options = self._defaults([p for p in parsed if p.kind == "defaults"])
        maps = self._value_maps([p for p in parsed if p.kind == "value_map"])
        systems = {p.system for p in parsed if p.kind != "defaults"}
        mappings: dict[tuple[str, str], Mapping] = {}
        for item in (p for p in parsed if p.kind == "mapping"):
            mapping = self._mapping(item, options, maps, systems)
            if mapping is None:
                continue
            key = (mapping.system, mapping.entity)
            if key in mappings:
                self._add(
                    f"a second mapping for {key[0]}/{key[1]} (first: {mappings[key].file})",
                    item.document,
                    ("entity",),
                    "entity",
                )
                continue
            mappings[key] = mapping
        self._check_custom_fields(mappings)
        if self.errors:
            return None, sorted(self.errors, key=lambda e: (e.file or "", e.line or 0))
        return MappingSet(mappings, maps, self.directory, self.sources), []

    def _files(self) -> list[str]:
        if self.given is not None:
            names = sorted(self.given, key=_walk_order)
            return [os.path.join(self.directory, *name.split("/")) for name in names]
        found = []
        for root, dirs, files in os.walk(self.directory):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.join(root, f) for f in sorted(files) if f.endswith((".yaml", ".yml"))]
        return found

    def _display(self, path: str) -> str:
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else relative

    def _add(
        self, message: str, document: loader.Document, location: tuple, field: str | None
    ) -> None:
        self.errors.append(MappingError(message, document.file, document.line(location), field))

    def _parse(self, path: str) -> _Parsed | None:
        display = self._display(path)
        name = os.path.relpath(path, self.directory).replace(os.sep, "/")
        if self.given is not None:
            text: str | None = self.given[name]
        else:
            text, errors = loader.read_text(path, display)
            self.errors += errors
        if text is None:
            return None
        self.sources[name] = text
        document, errors = loader.parse(text, display)
        self.errors += errors
        if document is None:
            return None
        if not isinstance(document.data, dict):
            self._add("a mapping file must be a YAML mapping (key: value)", document, (), None)
            return None
        kind = schema.kind_of(document.data)
        if kind in schema.RULES_FILES:
            if self.given is None:  # its feature reads it from the folder, not from a saved set
                self.errors += _feature_rules_errors(kind, path)
            return None
        indexes, broken = None, False
        try:
            data = schema.SCHEMAS[kind]().load(document.data)
        except ValidationError as error:
            self._schema_errors(error.messages, kind, document)
            salvaged = _salvage(document.data) if kind == "mapping" else None
            if salvaged is None:
                return None
            (data, indexes), broken = salvaged, True
        folder = os.path.relpath(os.path.dirname(path), self.directory)
        system = data.get("system") or (folder.split(os.sep)[0] if folder != "." else "")
        if kind != "defaults" and folder != "." and system != folder.split(os.sep)[0]:
            self._add(
                f"system {system!r} does not match its folder {folder.split(os.sep)[0]!r}",
                document,
                ("system",),
                "system",
            )
        return _Parsed(document, kind, data, system, indexes, broken)

    def _schema_errors(self, messages: Any, kind: str, document: loader.Document) -> None:
        for location, message in _flatten(messages):
            field = _field_label(document.data, location)
            if message == "Unknown field.":
                key = str(location[-1])
                hint = did_you_mean(key, schema.valid_keys(kind, location[:-1]))
                message = f"unknown key {key!r}{hint}"
            elif message == "Missing data for required field.":
                message = f"missing required key {location[-1]!r}"
            elif location and isinstance(location[-1], str):
                message = f"{location[-1]}: {message}"
            self._add(message, document, location, field)

    def _defaults(self, files: list[_Parsed]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for item in files:
            self._check_options(item.data["defaults"], item.document, ("defaults",))
            options.update(item.data["defaults"])
        return options

    def _check_options(self, options: dict[str, Any], document: loader.Document, at: tuple) -> None:
        from zoneinfo import ZoneInfo

        import phonenumbers

        region = options.get("phone_region")
        if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            hint = did_you_mean(region.upper(), phonenumbers.SUPPORTED_REGIONS)
            self._add(
                f"unknown phone region {region!r}{hint}",
                document,
                (*at, "phone_region"),
                "phone_region",
            )
        zone = options.get("timezone")
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ValueError, KeyError, OSError):
                self._add(f"unknown time zone {zone!r}", document, (*at, "timezone"), "timezone")

    def _value_maps(self, files: list[_Parsed]) -> dict[tuple[str, str], ValueMap]:
        maps: dict[tuple[str, str], ValueMap] = {}
        for item in files:
            data, document = item.data, item.document
            key = (item.system, data["value_map"])
            if key in maps:
                self._add(
                    f"a second value map {key[1]!r} (first: {maps[key].file})",
                    document,
                    ("value_map",),
                    key[1],
                )
                continue
            domain = data.get("canonical_values")
            if domain:
                self._check_domain(data, domain, document)
            maps[key] = value_maps.build(
                data, item.system, document.file, document.line(("value_map",))
            )
        return maps

    def _check_domain(self, data: dict[str, Any], domain: str, document: loader.Document) -> None:
        allowed = value_maps.CANONICAL_DOMAINS[domain]
        names = [str(a) for a in allowed]
        for section, key_name, canonical_is_key in (
            ("pairs", "pairs", True),
            ("out", "out", True),
            ("in_", "in", False),
        ):
            for key, value in (data.get(section) or {}).items():
                canonical = key if canonical_is_key else value
                if canonical not in allowed:
                    hint = did_you_mean(str(canonical), names)
                    self._add(
                        f"{canonical!r} is not a canonical {domain} value{hint}",
                        document,
                        (key_name, key),
                        data["value_map"],
                    )
        for direction in ("in",):
            rule = value_maps.parse_unmapped(data["unmapped"][f"{direction}_"])
            if rule.action == "use" and rule.value is not None and rule.value not in allowed:
                self._add(
                    f"unmapped {direction}: {rule.value!r} is not a canonical {domain} value",
                    document,
                    ("unmapped", direction),
                    data["value_map"],
                )

    def _mapping(
        self,
        item: _Parsed,
        defaults: dict[str, Any],
        maps: dict[tuple[str, str], ValueMap],
        systems: set[str],
    ) -> Mapping | None:
        data, document, system = item.data, item.document, item.system
        canonical = data.get("canonical") or data["entity"]
        if canonical not in ENTITIES:
            hint = did_you_mean(canonical, ENTITIES)
            self._add(
                f"entity {canonical!r} is not canonical; "
                f"add 'canonical: <{'|'.join(ENTITIES)}>'{hint}",
                document,
                ("entity",),
                "entity",
            )
            return None
        self._check_options(data["options"], document, ("options",))
        options = {**defaults, **data["options"]}

        def value_map(name: str) -> ValueMap:
            found = maps.get((system, name))
            if found is None:
                names = [n for s, n in maps if s == system]
                raise KeyError(f"no value map {name!r} for {system}{did_you_mean(name, names)}")
            return found

        context = Context(
            phone_region=options.get("phone_region") or phones.DEFAULT_REGION,
            timezone=options.get("timezone") or "UTC",
            currency=options.get("currency"),
            value_map=value_map,
        )
        rules = []
        ok = True
        indexes = item.indexes or range(len(data["fields_"]))
        for index, spec in zip(indexes, data["fields_"], strict=True):
            line = document.line(("fields", index))
            try:
                rule = compile_rule(spec, canonical, context, line)
            except RuleError as error:
                label = _field_label(document.data, ("fields", index))
                for problem in error.all:
                    self._add(str(problem), document, ("fields", index, *problem.location), label)
                ok = False
                continue
            if rule.owner and rule.owner not in systems | {HUB}:
                hint = did_you_mean(rule.owner, systems | {HUB})
                self._add(
                    f"unknown owner {rule.owner!r}{hint}; name a system or 'hub'",
                    document,
                    ("fields", index, "owner"),
                    rule.label,
                )
                ok = False
            rules.append(rule)
        custom = [
            self._custom_field(system, data["entity"], f, document, i)
            for i, f in enumerate(data["custom_fields"])
        ]
        if not ok or item.broken:
            return None
        return Mapping(
            system,
            data["entity"],
            canonical,
            document.file,
            rules,
            [c for c in custom if c is not None],
            data.get("description", ""),
            options,
        )

    def _custom_field(
        self, system: str, entity: str, spec: dict[str, Any], document: loader.Document, index: int
    ) -> CustomField | None:
        at = ("custom_fields", index)
        rule = _CUSTOM_RULES.get(system)
        if rule is not None:
            pattern, hint, types = rule
            if not pattern.match(spec["name"]):
                self._add(
                    f"custom field name {spec['name']!r} must be {hint}",
                    document,
                    (*at, "name"),
                    spec["name"],
                )
                return None
            if spec["type"] not in types:
                self._add(
                    f"unknown {system} field type {spec['type']!r}"
                    f"{did_you_mean(spec['type'], types)}",
                    document,
                    (*at, "type"),
                    spec["name"],
                )
                return None
        return CustomField(
            system,
            entity,
            spec["name"],
            spec["type"],
            spec.get("label"),
            spec["required"],
            spec["multiple"],
            tuple(spec.get("options") or ()),
            document.file,
            document.line(at),
        )

    def _check_custom_fields(self, mappings: dict[tuple[str, str], Mapping]) -> None:
        """A `UF_CRM_*` or merge field used in a path must be declared, so setup can create it."""
        declared: dict[str, set[str]] = {}
        for mapping in mappings.values():
            declared.setdefault(mapping.system, set()).update(f.name for f in mapping.custom_fields)
        for mapping in mappings.values():
            names = declared.get(mapping.system, set())
            for rule in mapping.rules:
                for name in _custom_names(mapping.system, rule.system):
                    if name not in names:
                        self.errors.append(
                            MappingError(
                                f"custom field {name!r} is not declared under custom_fields"
                                f"{did_you_mean(name, names)}",
                                mapping.file,
                                rule.line,
                                rule.label,
                            )
                        )


def _walk_order(name: str) -> tuple[tuple[int, str], ...]:
    """Sorts `/` paths as `_files` walks a folder: a folder's files first, then its folders."""
    *folders, file = name.split("/")
    return (*((1, folder) for folder in folders), (0, file))


def _feature_rules_errors(feature: str, path: str) -> list[MappingError]:
    """A feature's rules file shares the folder and the validate run; its own module checks it."""
    import importlib

    return importlib.import_module(schema.RULES_FILES[feature]).validate_rules_file(path)


def _salvage(raw: dict[str, Any]) -> tuple[dict[str, Any], list[int]] | None:
    """The valid parts of a mapping file with schema errors, to find the rest of its problems."""
    if not isinstance(raw.get("system"), str) or not isinstance(raw.get("entity"), str):
        return None
    canonical = raw.get("canonical")
    data: dict[str, Any] = {
        "system": raw["system"],
        "entity": raw["entity"],
        "canonical": canonical if canonical in ENTITIES else None,
        "options": {},
        "fields_": [],
        "custom_fields": [],
    }
    with contextlib.suppress(ValidationError):
        data["options"] = schema.OptionsSchema().load(raw.get("options") or {})
    indexes = []
    items = raw.get("fields")
    for index, item in enumerate(items if isinstance(items, list) else []):
        with contextlib.suppress(ValidationError):
            data["fields_"].append(schema.FieldSchema().load(item))
            indexes.append(index)
    return data, indexes


def _custom_names(system: str, paths_: str | list[str] | None) -> list[str]:
    texts = [] if paths_ is None else paths_ if isinstance(paths_, list) else [paths_]
    found = []
    for text in texts:
        parts = re.split(r"[.\[\]]", text)
        if system == "bitrix24":
            found += [p for p in parts if p.startswith("UF_CRM_")]
        elif system == "mailchimp":
            found += [parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "merge_fields"]
    return found


def _flatten(messages: Any, location: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, (*location, key))
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict | list):
                yield from _flatten(message, location)
            else:
                yield location, str(message)
    else:
        yield location, str(messages)


def _field_label(data: Any, location: tuple) -> str | None:
    """The name to show for an error: the field's canonical path inside `fields`, else the key."""
    if len(location) >= 2 and location[0] == "fields" and isinstance(location[1], int):
        try:
            spec = data["fields"][location[1]]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(spec, dict):
            name = spec.get("canonical") or spec.get("system")
            if isinstance(name, list):
                return ", ".join(map(str, name))
            return str(name) if name else None
    return str(location[0]) if location else None
