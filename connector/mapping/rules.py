"""Compiles one field pair of a mapping file into closures that copy a value in either direction.

Compiling once at load is what makes mapping fast: per record, a rule is a getter, a chain of
transforms and a setter, with no path parsing and no lookups by name. When both sides of a field
have `[]` (`lines[].sku` <-> `line_items[].sku`), the rule walks the lists element by element.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.mapping import paths
from connector.mapping.errors import did_you_mean
from connector.mapping.paths import MISSING, Path
from connector.mapping.transforms import (
    NO_PARAMS,
    Context,
    Fn,
    ReadsRecord,
    Transform,
    TransformError,
    normalise_params,
    registry,
)
from connector.model import field_types, line_field_types, scalar_type

Apply = Callable[[Any, dict, Any], None]


class RuleError(ValueError):
    """A field pair cannot be compiled; `location` points inside the field (e.g. a transform)."""

    def __init__(self, message: str, location: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.location = location
        self.all: list[RuleError] = [self]

    @classmethod
    def several(cls, problems: list[RuleError]) -> RuleError:
        """One error standing for all problems of a field, so none is hidden behind the first."""
        first = problems[0]
        first.all = problems
        return first


@dataclass
class StepInfo:
    """A transform as written in the file, for `mappings show`."""

    name: str
    params: dict[str, Any]


@dataclass
class FieldRule:
    """One compiled field pair; `apply_in` / `apply_out` are None when the direction is excluded."""

    canonical: str | list[str] | None
    system: str | list[str] | None
    direction: str
    line: int
    transforms: list[StepInfo]
    on_create_only: bool = False
    skip_if_empty: bool = False
    owner: str | None = None
    note: str = ""
    roots: frozenset[str] = frozenset()
    apply_in: Apply | None = None
    apply_out: Apply | None = None
    in_chain: Fn | None = None
    out_chain: Fn | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The name errors and tables use: the canonical path, else the system path."""
        name = self.canonical or self.system or "?"
        return ", ".join(name) if isinstance(name, list) else name


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def compile_rule(spec: dict[str, Any], entity: str, context: Context, line: int) -> FieldRule:
    """Builds a FieldRule from a validated field dict; a RuleError carries all problems (`.all`)."""
    direction = spec["direction"]
    canonical_texts = _as_list(spec.get("canonical"))
    system_texts = _as_list(spec.get("system"))
    problems: list[RuleError] = []
    steps, in_fns, out_fns, fills_missing = _compile_transforms(
        spec["transforms"], context, problems
    )
    canonical_paths = [_collect(problems, _parse, t, "canonical") for t in canonical_texts]
    system_paths = [_collect(problems, _parse, t, "system") for t in system_texts]
    for path in canonical_paths:
        if path is not None:
            _collect(problems, _check_canonical, path, entity)
    if not problems:
        _collect(problems, _check_sides, direction, canonical_texts, system_texts, steps)
        _collect(problems, _check_directions, direction, steps, in_fns, out_fns)
    element_wise = all(p.each_at is not None for p in canonical_paths + system_paths)
    record_steps = [i for i, fn in enumerate(in_fns) if isinstance(fn, ReadsRecord)]
    if record_steps and element_wise and not problems:
        problems.append(
            RuleError(
                f"{steps[record_steps[0]][0].name}: reads the record, so it works only on "
                "fields outside lists (`[]` on both sides)",
                ("transforms", record_steps[0]),
            )
        )
    if problems:
        raise RuleError.several(problems)
    # A list value (one side has `[]`, or a list field) runs element transforms per item;
    # element-by-element rules already see one item at a time.
    listy = not element_wise and (
        any(p.each_at is not None for p in canonical_paths + system_paths)
        or any(_is_list_field(p, entity) for p in canonical_paths)
    )
    record_chain = _record_chain(in_fns, steps, listy) if record_steps else None
    in_fns = [fn.alone() if isinstance(fn, ReadsRecord) else fn for fn in in_fns]
    in_chain = _chain(in_fns, steps, listy)
    out_chain = _chain(list(reversed(out_fns)), list(reversed(steps)), listy)
    rule = FieldRule(
        canonical=spec.get("canonical"),
        system=spec.get("system"),
        direction=direction,
        line=line,
        transforms=[StepInfo(t.name, p) for t, p in steps],
        on_create_only=spec["on_create_only"],
        skip_if_empty=spec["skip_if_empty"],
        owner=spec.get("owner"),
        note=spec.get("note", ""),
        roots=frozenset(p.root for p in canonical_paths),
        in_chain=in_chain,
        out_chain=out_chain,
        spec=spec,
    )
    skip = spec["skip_if_empty"]
    if direction in ("in", "both") and record_chain is not None:
        rule.apply_in = _record_applier(
            system_paths, canonical_paths, record_chain, skip, fills_missing
        )
    elif direction in ("in", "both"):
        rule.apply_in = _applier(system_paths, canonical_paths, in_chain, skip, fills_missing)
    if direction in ("out", "both"):
        rule.apply_out = _applier(canonical_paths, system_paths, out_chain, skip, fills_missing)
    return rule


def _collect(problems: list[RuleError], check: Callable[..., Any], *args: Any) -> Any:
    try:
        return check(*args)
    except RuleError as error:
        problems.append(error)
        return None


def _parse(text: str, side: str) -> Path:
    try:
        return paths.parse(text)
    except paths.PathError as error:
        raise RuleError(str(error), (side,)) from None


def _compile_transforms(
    raw_steps: list[Any], context: Context, problems: list[RuleError]
) -> tuple[list[tuple[Transform, dict]], list[Fn | None], list[Fn | None], bool]:
    steps, in_fns, out_fns = [], [], []
    fills_missing = False
    for index, raw in enumerate(raw_steps):
        built = _collect(problems, _compile_transform, index, raw, context)
        if built is None:
            continue
        transform, params, in_fn, out_fn = built
        fills_missing = fills_missing or transform.name in ("const", "default")
        steps.append((transform, params))
        in_fns.append(in_fn)
        out_fns.append(out_fn)
    return steps, in_fns, out_fns, fills_missing


def _compile_transform(index: int, raw: Any, context: Context) -> tuple[Any, ...]:
    known = registry()
    where = ("transforms", index)
    if isinstance(raw, str):
        name, raw_params = raw, NO_PARAMS
    elif isinstance(raw, dict) and len(raw) == 1:
        ((name, raw_params),) = raw.items()
    else:
        raise RuleError("a transform is a name or {name: parameters}", where)
    transform = known.get(str(name))
    if transform is None:
        raise RuleError(f"unknown transform {name!r}{did_you_mean(str(name), known)}", where)
    try:
        params = normalise_params(transform, raw_params)
        in_fn, out_fn = transform.build(params, context)
    except TransformError as error:
        raise RuleError(f"{name}: {error}", where) from None
    except KeyError as error:  # a value map that does not exist
        raise RuleError(f"{name}: {error.args[0]}", where) from None
    return transform, params, in_fn, out_fn


def _check_sides(
    direction: str,
    canonical: list[str],
    system: list[str],
    steps: list[tuple[Transform, dict]],
) -> None:
    has_const = any(t.name == "const" for t, _ in steps)
    if direction in ("in", "both") and not canonical:
        raise RuleError(f"direction {direction!r} needs a 'canonical' path", ("canonical",))
    if direction in ("out", "both") and not system:
        raise RuleError(f"direction {direction!r} needs a 'system' path", ("system",))
    if direction in ("in", "both") and not system and not has_const:
        raise RuleError("needs a 'system' path (or a const transform)", ("system",))
    if direction in ("out", "both") and not canonical and not has_const:
        raise RuleError("needs a 'canonical' path (or a const transform)", ("canonical",))


def _check_directions(
    direction: str,
    steps: list[tuple[Transform, dict]],
    in_fns: list[Fn | None],
    out_fns: list[Fn | None],
) -> None:
    for index, ((transform, _), in_fn, out_fn) in enumerate(
        zip(steps, in_fns, out_fns, strict=True)
    ):
        if direction in ("in", "both") and in_fn is None:
            raise RuleError(
                f"transform {transform.name!r} only works going out; use direction: out",
                ("transforms", index),
            )
        if direction in ("out", "both") and out_fn is None:
            raise RuleError(
                f"transform {transform.name!r} only works coming in; use direction: in",
                ("transforms", index),
            )


def _check_canonical(path: Path, entity: str) -> None:
    known = field_types(entity)
    keys = path.keys
    root = keys[0]
    if root not in known:
        raise RuleError(
            f"unknown {entity} field {root!r}{did_you_mean(root, known)}", ("canonical",)
        )
    kind = scalar_type(known[root])
    if root == "custom":
        if len(keys) < 2:
            raise RuleError("name the custom field: custom.<name>", ("canonical",))
        return
    if root in ("lines",):
        if len(keys) == 1:  # the whole list, or each line itself (`lines[]`, for constants)
            return
        line_fields = line_field_types()
        if len(keys) < 2 or (keys[1] not in line_fields):
            name = keys[1] if len(keys) > 1 else ""
            raise RuleError(
                f"unknown line field {name!r}{did_you_mean(name, line_fields)}", ("canonical",)
            )
        if keys[1] != "custom" and len(keys) > 2:
            raise RuleError(f"line field {keys[1]!r} has no sub-fields", ("canonical",))
        return
    if len(keys) > 1 and kind is not dict:
        raise RuleError(f"{entity} field {root!r} has no sub-fields", ("canonical",))


def _is_list_field(path: Path, entity: str) -> bool:
    hint = field_types(entity).get(path.root)
    return len(path.steps) == 1 and scalar_type(hint) is list


def _chain(
    fns: Sequence[Fn | None], steps: Sequence[tuple[Transform, dict]], listy: bool
) -> Fn | None:
    """Composes a chain; element transforms are applied to each item of a list value."""
    composed: list[Fn] = []
    for fn, (transform, _) in zip(fns, steps, strict=True):
        if fn is None:
            continue
        composed.append(fn if transform.whole or not listy else _listwise(fn))
    if not composed:
        return None
    if len(composed) == 1:
        return composed[0]
    if len(composed) == 2:
        first, second = composed
        return lambda value: second(first(value))

    def run(value: Any) -> Any:
        for fn in composed:
            value = fn(value)
        return value

    return run


def _record_chain(
    fns: Sequence[Fn | ReadsRecord | None], steps: Sequence[tuple[Transform, dict]], listy: bool
) -> Callable[[Any, Any], Any]:
    """A chain of (value, record): transforms that read the record get it, the others the value."""
    parts: list[tuple[Callable[..., Any], bool, bool]] = []
    for fn, (transform, _) in zip(fns, steps, strict=True):
        if fn is None:
            continue
        each = listy and not transform.whole
        if isinstance(fn, ReadsRecord):
            parts.append((fn.fn, True, each))
        else:
            parts.append((fn, False, each))

    def run(value: Any, record: Any) -> Any:
        for fn, reads, each in parts:
            if each and isinstance(value, list):
                value = [fn(v, record) if reads else fn(v) for v in value]
            else:
                value = fn(value, record) if reads else fn(value)
        return value

    return run


def _listwise(fn: Fn) -> Fn:
    def each(value: Any) -> Any:
        return [fn(v) for v in value] if isinstance(value, list) else fn(value)

    return each


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _reader(source: list[Path]) -> paths.Getter:
    if not source:
        return lambda record: None  # a const field
    if len(source) == 1:
        return paths.path_getter(source[0])
    getters = [paths.path_getter(p) for p in source]

    def read_all(record: Any) -> Any:
        values = tuple(g(record) for g in getters)
        if all(v is MISSING for v in values):
            return MISSING
        return tuple(None if v is MISSING else v for v in values)

    return read_all


def _writer(target: list[Path]) -> paths.Setter:
    if len(target) == 1:
        return paths.path_setter(target[0])
    setters = [paths.path_setter(p) for p in target]

    def write_all(record: dict, value: Any, existing: Any = None) -> None:
        if not isinstance(value, list | tuple) or len(value) != len(setters):
            raise TransformError(
                f"expected {len(setters)} values for {len(setters)} paths, got {value!r}; "
                "add a split/join transform"
            )
        for put, item in zip(setters, value, strict=True):
            put(record, item, existing)

    return write_all


def _element_paths(side: list[Path]) -> tuple[tuple[paths.Step, ...], list[Path]] | None:
    """(list prefix, element paths) when every path of a side goes through the same `[]`."""
    if not side or any(p.each_at is None for p in side):
        return None
    prefixes = {p.prefix for p in side}
    if len(prefixes) != 1:
        raise RuleError("all paths of one side must go through the same list")
    rests = [Path(p.text, p.rest) for p in side]
    return side[0].prefix, rests


def _applier(
    source: list[Path],
    target: list[Path],
    chain: Fn | None,
    skip_if_empty: bool,
    fills_missing: bool,
) -> Apply:
    source_elements = _element_paths(source)
    target_elements = _element_paths(target)
    if source_elements and target_elements:
        return _element_applier(
            source_elements, target_elements, chain, skip_if_empty, fills_missing
        )
    simple = _simple_keys(source), _simple_keys(target)
    if simple[0] and simple[1] and not fills_missing:
        return _simple_applier(simple[0], simple[1], chain, skip_if_empty)
    read = _reader(source)
    write = _writer(target)

    def apply(record: Any, out: dict, existing: Any) -> None:
        value = read(record)
        if value is MISSING:
            if not fills_missing:
                return
            value = None
        if chain is not None:
            value = chain(value)
        if skip_if_empty and _empty(value):
            return
        write(out, value, existing)

    return apply


def _record_applier(
    source: list[Path],
    target: list[Path],
    chain: Callable[[Any, Any], Any],
    skip_if_empty: bool,
    fills_missing: bool,
) -> Apply:
    """`_applier` for a chain that reads other fields of the record (the phone's country)."""
    read = _reader(source)
    write = _writer(target)

    def apply(record: Any, out: dict, existing: Any) -> None:
        value = read(record)
        if value is MISSING:
            if not fills_missing:
                return
            value = None
        value = chain(value, record)
        if skip_if_empty and _empty(value):
            return
        write(out, value, existing)

    return apply


def _simple_keys(side: list[Path]) -> tuple[str, str | None] | None:
    """(key, subkey) when a side is one path of one or two plain keys, the common case."""
    if len(side) != 1 or not 1 <= len(side[0].steps) <= 2:
        return None
    if any(step.kind != "key" for step in side[0].steps):
        return None
    keys = [step.key for step in side[0].steps]
    return keys[0], (keys[1] if len(keys) == 2 else None)


def _simple_applier(
    source: tuple[str, str | None],
    target: tuple[str, str | None],
    chain: Fn | None,
    skip_if_empty: bool,
) -> Apply:
    """The hot path: `a` or `a.b` to `x` or `x.y`, read and written inline (no getter calls)."""
    key, subkey = source
    out_key, out_subkey = target

    def apply(record: Any, out: dict, existing: Any) -> None:
        value = record.get(key, MISSING)
        if subkey is not None:
            if value.__class__ is dict:
                value = value.get(subkey, MISSING)
            elif value is not None:
                return
        if value is MISSING:
            return
        if chain is not None:
            value = chain(value)
        if skip_if_empty and (value is None or value == "" or value == [] or value == {}):
            return
        if out_subkey is None:
            out[out_key] = value
        else:
            inner = out.get(out_key)
            if inner.__class__ is not dict:
                inner = out[out_key] = {}
            inner[out_subkey] = value

    return apply


def _element_applier(
    source: tuple[tuple[paths.Step, ...], list[Path]],
    target: tuple[tuple[paths.Step, ...], list[Path]],
    chain: Fn | None,
    skip_if_empty: bool,
    fills_missing: bool,
) -> Apply:
    read_list = paths.getter(source[0])
    ensure = paths.element_list(target[0])
    simple = _simple_keys(source[1]), _simple_keys(target[1])
    if simple[0] and simple[1] and not fills_missing:
        return _simple_element_applier(read_list, ensure, simple, chain, skip_if_empty)
    read = _reader(source[1])
    whole_item = len(target[1]) == 1 and not target[1][0].steps  # `tags[]`: the item is the value
    write = None if whole_item else _writer(target[1])

    def apply(record: Any, out: dict, existing: Any) -> None:
        items = read_list(record)
        if not isinstance(items, list):
            return
        targets = ensure(out, len(items))
        for index, item in enumerate(items):
            value = read(item)
            if value is MISSING:
                if not fills_missing:
                    continue
                value = None
            if chain is not None:
                value = chain(value)
            if skip_if_empty and _empty(value):
                continue
            if write is None:
                targets[index] = value
            else:
                write(targets[index], value, None)

    return apply


def _simple_element_applier(
    read_list: paths.Getter,
    ensure: Callable[[dict, int], list],
    simple: tuple[Any, Any],
    chain: Fn | None,
    skip_if_empty: bool,
) -> Apply:
    """Lines with plain keys on both sides (`lines[].sku` <-> `line_items[].sku`), inline."""
    apply_one = _simple_applier(simple[0], simple[1], chain, skip_if_empty)

    def apply(record: Any, out: dict, existing: Any) -> None:
        items = read_list(record)
        if items.__class__ is not list:
            return
        targets = ensure(out, len(items))
        for item, element in zip(items, targets, strict=False):
            if item.__class__ is dict:
                apply_one(item, element, None)

    return apply
