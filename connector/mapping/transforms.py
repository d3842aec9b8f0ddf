"""The registry of named transforms that mapping files chain; the only "code" an admin can call.

Each transform turns a system value into a canonical one (`in`) and back (`out`). A field's
chain runs left to right on the way in and right to left on the way out, so `[trim, phone]` trims
then normalises a phone coming in, and formats it going out. A transform that makes no sense one
way says so, and the loader rejects a field that would need it. `docs/mappings.md` lists them
all (`describe()`).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from connector.mapping import phones
from connector.mapping.errors import did_you_mean

Fn = Callable[[Any], Any]


class TransformError(ValueError):
    """A value cannot be transformed (bad date, bad number...); the engine adds file and line."""


@dataclass(frozen=True)
class Param:
    """One parameter of a transform, as written in a mapping file."""

    name: str
    kind: type | tuple[type, ...] = str
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Context:
    """What a transform may read while it is built: file options and the system's value maps."""

    phone_region: str = phones.DEFAULT_REGION
    timezone: str = "UTC"
    currency: str | None = None
    value_map: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class ReadsRecord:
    """An `in` function that also reads other fields of the record it maps (the phone's
    `country_from`): `fn(value, record)`; the rule passes the record, `record=None` when the value
    is translated alone."""

    fn: Callable[[Any, Any], Any]

    def alone(self) -> Fn:
        fn = self.fn
        return lambda value: fn(value, None)


@dataclass(frozen=True)
class Transform:
    """Named functions: `build(params, context)` -> (in_fn, out_fn), None if unsupported."""

    name: str
    doc: str
    build: Callable[[dict[str, Any], Context], tuple[Fn | None, Fn | None]]
    params: tuple[Param, ...] = ()
    main: str | None = None
    whole: bool = False  # takes the whole value (list or tuple) instead of one element
    example: str = ""
    param_index: dict[str, Param] = field(default_factory=dict, compare=False)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _none_safe(fn: Fn) -> Fn:
    """Empty stays empty (and `''` becomes None): a missing phone is not an error."""

    def safe(value: Any) -> Any:
        return None if value is None or value == "" else fn(value)

    return safe


_REGISTRY: dict[str, Transform] = {}


def _register(
    name: str,
    doc: str,
    params: tuple[Param, ...] = (),
    main: str | None = None,
    whole: bool = False,
    example: str = "",
) -> Callable[[Callable], Callable]:
    def decorate(build: Callable) -> Callable:
        _REGISTRY[name] = Transform(
            name, doc, build, params, main, whole, example, {p.name: p for p in params}
        )
        return build

    return decorate


def registry() -> Mapping[str, Transform]:
    """Name -> Transform; read-only view for the loader, the CLI and the docs."""
    return _REGISTRY


# --- text ----------------------------------------------------------------------------------------


@_register(
    "trim",
    "Strips spaces at both ends; an empty text is empty (`None`) in the hub and `''` going out.",
)
def _trim(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    def clean(value: Any) -> Any:
        return None if value is None else (str(value).strip() or None)

    return clean, (lambda v: "" if v is None else str(v).strip())


@_register("lower", "Lower-cases text (both ways).")
def _lower(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    def lower(value: Any) -> Any:
        return None if value is None or value == "" else str(value).lower()

    return lower, lower


@_register("upper", "Upper-cases text (both ways), e.g. country codes.")
def _upper(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    def upper(value: Any) -> Any:
        return None if value is None or value == "" else str(value).upper()

    return upper, upper


@_register("str", "Any scalar to text coming in (`25` -> `'25'`); text going out.")
def _str(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    def to_text(value: Any) -> Any:
        if value is None or value == "":
            return None
        if value.__class__ is str:
            return value
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return to_text, to_text


@_register(
    "id",
    "Record ids: text in the hub, a number going out when the id is all digits "
    "(WooCommerce, Bitrix24).",
)
def _id(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    def to_text(value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)

    def to_number(value: Any) -> Any:
        if value is None or value == "":
            return None
        text = str(value)
        return int(text) if text.isdigit() else text

    return to_text, to_number


@_register(
    "truncate",
    "Cuts text to `length` characters going out (Mailchimp text merge fields keep 255 bytes).",
    (Param("length", int, required=True),),
    main="length",
    example="{truncate: 255}",
)
def _truncate(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    length = params["length"]
    return (lambda v: v), _none_safe(lambda v: str(v)[:length])


@_register("unescape_html", "Turns `&ndash;` and friends into characters coming in.")
def _unescape_html(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    return _none_safe(lambda v: html.unescape(str(v))), (lambda v: v)


_TAG = re.compile(r"<[^>]+>")


@_register("strip_html", "Removes HTML tags and entities coming in (product descriptions).")
def _strip_html(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    return _none_safe(lambda v: html.unescape(_TAG.sub("", str(v))).strip()), (lambda v: v)


@_register(
    "prefix",
    "Adds `value` in front going out and removes it coming in (`WC-727` <-> `727`).",
    (Param("value", str, required=True),),
    main="value",
    example="{prefix: 'WC-'}",
)
def _prefix(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    prefix = params["value"]

    def strip(value: Any) -> Any:
        text = str(value)
        return text[len(prefix) :] if text.startswith(prefix) else text

    return _none_safe(strip), _none_safe(lambda v: f"{prefix}{v}")


# --- people --------------------------------------------------------------------------------------

_ON_INVALID = Param(
    "on_invalid",
    str,
    "keep",
    choices=("keep", "drop", "error"),
    doc="a value that cannot be normalised: keep it as is, drop it (empty), or fail",
)


def _invalid(policy: str, value: Any, why: str) -> Any:
    if policy == "drop":
        return None
    if policy == "error":
        raise TransformError(why)
    return value


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@_register(
    "email",
    "Trims and lower-cases an email address (both ways); `on_invalid` decides about bad ones.",
    (_ON_INVALID,),
)
def _email(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    policy = params["on_invalid"]

    def normalise(value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip().lower()
        if not text:
            return None
        if not _EMAIL.match(text):
            return _invalid(policy, text, f"not an email address: {value!r}")
        return text

    return normalise, normalise


_PHONE_FORMATS = {
    "e164": phonenumbers.PhoneNumberFormat.E164,
    "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    "national": phonenumbers.PhoneNumberFormat.NATIONAL,
}


def _country_getters(raw: Any) -> list[Callable[[Any], Any]]:
    """`country_from: billing.country` or a list of paths tried in order -> getters."""
    from connector.mapping import paths

    texts = [raw] if isinstance(raw, str) else raw
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise TransformError("country_from must be a path or a list of paths")
    getters = []
    for text in texts:
        try:
            path = paths.parse(text.strip())
        except paths.PathError as error:
            raise TransformError(f"country_from: {error}") from None
        if path.each_at is not None:
            raise TransformError(f"country_from: {text!r} must name one value, not a list")
        getters.append(paths.path_getter(path))
    return getters


@_register(
    "phone",
    "Normalises a phone to E.164 coming in; a number without `+` is read in the record's own "
    "country when `country_from` names where it is (paths tried in order, e.g. "
    "`[billing.country, shipping.country]`), else in `region` (default: the file's "
    "`phone_region`); formats it going out (`format`: e164, international, national).",
    (
        Param("region", str, doc="ISO country for numbers written without +"),
        Param("format", str, "e164", choices=tuple(_PHONE_FORMATS)),
        _ON_INVALID,
        Param(
            "country_from",
            (str, list),
            doc="path(s) of the record's ISO country; a number without + is read in it",
        ),
    ),
    main="region",
    example="{phone: {country_from: [billing.country, shipping.country]}}",
)
def _phone(params: dict, ctx: Context) -> tuple[Fn | ReadsRecord, Fn]:
    region = (params.get("region") or ctx.phone_region).upper()
    policy = params["on_invalid"]
    out_format = _PHONE_FORMATS[params["format"]]
    e164 = phonenumbers.PhoneNumberFormat.E164

    normalise = phones.normaliser(region)

    def parse_text(text: str, read: Callable[[str], str]) -> Any:
        try:
            return read(text)
        except phones.PhoneError as error:
            return _invalid(policy, text, str(error))

    def parse(value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        return parse_text(text, normalise) if text else None

    def render(value: Any) -> Any:
        if out_format == e164:
            return parse(value)
        try:
            return phonenumbers.format_number(phonenumbers.parse(str(value), region), out_format)
        except phonenumbers.NumberParseException:
            return _invalid(policy, value, f"not a phone number: {value!r}")

    if params.get("country_from") is None:
        return parse, _none_safe(render)

    getters = _country_getters(params["country_from"])
    by_region: dict[str, Callable[[str], str]] = {region: normalise}  # one per country seen

    def parse_in_country(value: Any, record: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        if text[0] == "+" or record is None:
            return parse_text(text, normalise)
        country = next((c for get in getters if (c := phones.region_of(get(record)))), region)
        read = by_region.get(country)
        if read is None:
            read = by_region[country] = phones.normaliser(country)
        return parse_text(text, read)

    return ReadsRecord(parse_in_country), _none_safe(render)


@_register(
    "split",
    "One system text, several hub fields: splits on `sep` into `parts` coming in "
    "(`'John Ronald Doe'` -> `John`, `Ronald Doe`), joins non-empty parts going out.",
    (Param("sep", str, " "), Param("parts", int, 2)),
    whole=True,
    example="{split: {sep: ' '}}",
)
def _split(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    return _splitter(params["sep"], params["parts"]), _joiner(params["sep"])


@_register(
    "join",
    "Several system fields, one hub text: joins non-empty parts coming in, splits going out.",
    (Param("sep", str, " "), Param("parts", int, 2)),
    whole=True,
    example="{join: {sep: ' '}}",
)
def _join(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    return _joiner(params["sep"]), _splitter(params["sep"], params["parts"])


def _splitter(sep: str, parts: int) -> Fn:
    def split(value: Any) -> Any:
        if _empty(value):
            return (None,) * parts
        pieces = str(value).strip().split(sep, parts - 1)
        return tuple(pieces + [None] * (parts - len(pieces)))

    return split


def _joiner(sep: str) -> Fn:
    def join(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        text = sep.join(str(v).strip() for v in value if not _empty(v))
        return text or None

    return join


@_register(
    "coalesce",
    "Takes the first non-empty value of several paths (`system: [PHONE[VALUE_TYPE=WORK].VALUE, "
    "PHONE[0].VALUE]`); works in the direction whose source has several paths.",
    whole=True,
)
def _coalesce(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    def first(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        return next((v for v in value if not _empty(v)), None)

    return first, first


# --- numbers and money ---------------------------------------------------------------------------

_AS = Param("as", str, "string", choices=("string", "number"), doc="how the system wants it")
# ISO 4217 minor units that differ from 2 (the rest of the world uses cents).
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "BHD": 3, "KWD": 3}


def _to_decimal(value: Any) -> Decimal:
    if value.__class__ is Decimal:
        return value
    if value.__class__ is int:
        return Decimal(value)
    if value.__class__ is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
            raise TransformError(f"not a number: {value!r}")
    if isinstance(value, bool):
        raise TransformError(f"not a number: {value!r}")
    try:
        return Decimal(str(value).strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise TransformError(f"not a number: {value!r}") from None


def _render_number(as_: str, places: int | None = None) -> Fn:
    def render(value: Any) -> Any:
        number = _to_decimal(value)
        if places is not None:
            number = number.quantize(Decimal(1).scaleb(-places))
        if as_ == "string":
            return str(number)
        return int(number) if number == number.to_integral_value() else float(number)

    return _none_safe(render)


@_register(
    "decimal",
    "Numbers as `Decimal` in the hub (quantities, weights); `as: number` writes a JSON number.",
    (_AS,),
    main="as",
)
def _decimal(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    def parse(value: Any) -> Decimal:
        number = _to_decimal(value)
        return number.normalize() if number == number.to_integral_value() else number

    return _none_safe(parse), _render_number(params["as"])


@_register("int", "Whole numbers (stock, counts) both ways.")
def _int(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    fn = _none_safe(lambda v: int(_to_decimal(v)))
    return fn, fn


@_register(
    "money",
    "Money as `Decimal` rounded to the currency's minor unit (`currency`, default the file's, else "
    "2 places); out as a string `'29.35'` or, with `as: number`, a JSON number.",
    (Param("currency", str), Param("places", int), _AS),
    example="{money: {as: number}}",
)
def _money(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    currency = (params.get("currency") or ctx.currency or "").upper()
    places = params.get("places")
    if places is None:
        places = _MINOR_UNITS.get(currency, 2)
    quantum = Decimal(1).scaleb(-places)

    def parse(value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        return _to_decimal(value).quantize(quantum)

    return parse, _render_number(params["as"], places)


@_register(
    "scale",
    "Multiplies going out and divides coming in (`factor: 1000`: kg in the hub, grams at a "
    "carrier).",
    (Param("factor", (int, float), required=True),),
    main="factor",
)
def _scale(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    factor = _to_decimal(params["factor"])
    return (
        _none_safe(lambda v: (_to_decimal(v) / factor).normalize()),
        _none_safe(lambda v: (_to_decimal(v) * factor).normalize()),
    )


@_register("sum", "Adds up a list coming in (line totals of a POS receipt).", whole=True)
def _sum(params: dict, ctx: Context) -> tuple[Fn, None]:
    def total(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return sum((_to_decimal(v) for v in value if not _empty(v)), Decimal(0))

    return total, None


@_register(
    "none_if",
    "Treats a placeholder as empty coming in and writes it back for empty going out "
    "(WooCommerce `customer_id: 0` = guest).",
    (Param("value", (str, int, float), required=True),),
    main="value",
    example="{none_if: 0}",
)
def _none_if(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    placeholder = params["value"]
    text = str(placeholder)
    return (lambda v: None if v is not None and str(v) == text else v), (
        lambda v: placeholder if v is None else v
    )


# --- yes / no ------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def _parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text == "":
        return None
    raise TransformError(f"not a yes/no value: {value!r}")


@_register("yn", "Bitrix24 flags: `Y` -> true, `N` -> false coming in; true -> `Y` going out.")
def _yn(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    return _none_safe(_parse_bool), (lambda v: None if v is None else ("Y" if v else "N"))


@_register(
    "bool",
    "Yes/no from `1/0`, `true/false`, `yes/no`, `Y/N`, `on/off` coming in; going out writes "
    "`true` / `false` or the given texts.",
    (Param("true", (str, int, bool), True), Param("false", (str, int, bool), False)),
    example="{bool: {true: '1', false: '0'}}",
)
def _bool(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    yes, no = params["true"], params["false"]
    return _none_safe(_parse_bool), (lambda v: None if v is None else (yes if v else no))


# --- dates ---------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TransformError(f"unknown time zone {name!r}") from None


def _parse_datetime(value: Any, fmt: str | None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    text = str(value).strip()
    try:
        if fmt:
            return dt.datetime.strptime(text, fmt)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TransformError(f"not a date/time{f' in {fmt!r}' if fmt else ''}: {value!r}") from None


_FORMAT = Param("format", str, doc="strftime/strptime format; ISO 8601 when absent")


@_register(
    "datetime",
    "Moments: parses ISO 8601 (or `format`) coming in, reads times without an offset in `tz` "
    "(default the file's `timezone`) and keeps UTC in the hub; going out converts to `tz` and "
    "writes ISO 8601 with the offset (or `format`; `naive: true` drops the offset, as in "
    "WooCommerce `*_gmt`).",
    (Param("tz", str), _FORMAT, Param("naive", bool, False)),
    main="tz",
    example="{datetime: {tz: UTC, naive: true}}",
)
def _datetime(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    zone = _zone(params.get("tz") or ctx.timezone)
    fmt, naive = params.get("format"), params["naive"]

    def parse(value: Any) -> dt.datetime | None:
        if value is None or value == "":
            return None
        moment = _parse_datetime(value, fmt)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(dt.UTC)

    def render(value: Any) -> str:
        moment = _parse_datetime(value, None)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(zone)
        if naive:
            moment = moment.replace(tzinfo=None)
        return moment.strftime(fmt) if fmt else moment.isoformat()

    return parse, _none_safe(render)


@_register(
    "date",
    "Calendar dates: parses ISO 8601 (a date-time keeps its own calendar day) or `format` coming "
    "in; writes ISO `YYYY-MM-DD` or `format` going out (Mailchimp birthday: `format: '%m/%d'`).",
    (_FORMAT,),
    main="format",
    example="{date: {format: '%m/%d'}}",
)
def _date(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    fmt = params.get("format")

    def parse(value: Any) -> dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if fmt is None and isinstance(value, str) and len(value.strip()) == 10:
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                raise TransformError(f"not a date: {value!r}") from None
        return _parse_datetime(value, fmt).date()

    def render(value: Any) -> str:
        day = parse(value) if not isinstance(value, dt.date) else value
        if isinstance(day, dt.datetime):
            day = day.date()
        return day.strftime(fmt) if fmt else day.isoformat()

    return _none_safe(parse), _none_safe(render)


# --- constants, defaults, lists, enumerations ----------------------------------------------------


@_register(
    "default",
    "Uses `value` when the value is empty (both ways; put it where the empty value arrives).",
    (Param("value", object, required=True),),
    main="value",
    whole=True,
    example="{default: NEW}",
)
def _default(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    fallback = params["value"]
    fn = lambda v: fallback if _empty(v) else v  # noqa: E731
    return fn, fn


@_register(
    "const",
    "Always `value`, whatever came in: a fixed `TYPE_ID`, `SOURCE_ID`, `currency`. A field with "
    "`const` needs no source path.",
    (Param("value", object, required=True),),
    main="value",
    whole=True,
    example="{const: STORE}",
)
def _const(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    value = params["value"]
    return (lambda v: value), (lambda v: value)


@_register(
    "comma_list",
    "A separated text in the system, a list in the hub "
    "(`'Group1,Group2'` <-> `['Group1', 'Group2']`).",
    (Param("sep", str, ","),),
    main="sep",
    whole=True,
)
def _comma_list(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    sep = params["sep"]

    def split(value: Any) -> Any:
        if isinstance(value, list) or value is None:
            return value
        return [part.strip() for part in str(value).split(sep) if part.strip()]

    def join(value: Any) -> Any:
        return sep.join(str(v) for v in value) if isinstance(value, list) else value

    return split, join


@_register(
    "map",
    "Translates an enumeration through a value map of the same system (`{map: deal_stage}`); the "
    "value map says what happens to an unmapped value.",
    (Param("value_map", str, required=True),),
    main="value_map",
    example="{map: deal_stage}",
)
def _map(params: dict, ctx: Context) -> tuple[Fn, Fn]:
    if ctx.value_map is None:
        raise TransformError("value maps are not available here")
    table = ctx.value_map(params["value_map"])
    return table.to_canonical, table.to_system


# --- introspection -------------------------------------------------------------------------------


NO_PARAMS: Any = object()
"""What a bare name in a chain (`- trim`) passes: unlike `{const: null}`, no value at all."""


def normalise_params(transform: Transform, raw: Any = NO_PARAMS) -> dict[str, Any]:
    """Turns `{phone: UA}` / `{phone: {region: UA}}` into a full params dict; raises on bad ones."""
    main = transform.param_index.get(transform.main) if transform.main else None
    if raw is NO_PARAMS:
        raw = {}
    elif not isinstance(raw, dict) or (main is not None and main.kind is object):
        if main is None:
            raise TransformError(f"transform {transform.name!r} takes no shorthand value")
        raw = {transform.main: raw}
    raw = {(str(k).lower() if isinstance(k, bool) else k): v for k, v in raw.items()}
    unknown = [k for k in raw if k not in transform.param_index]
    if unknown:
        hint = did_you_mean(str(unknown[0]), transform.param_index)
        raise TransformError(f"unknown parameter {unknown[0]!r} of {transform.name!r}{hint}")
    params: dict[str, Any] = {}
    for param in transform.params:
        if param.name not in raw:
            if param.required:
                raise TransformError(f"needs parameter {param.name!r}")
            params[param.name] = param.default
            continue
        value = raw[param.name]
        if param.kind is not object and not isinstance(value, param.kind) and value is not None:
            if param.kind is str and isinstance(value, int | float):
                value = str(value)
            else:
                raise TransformError(f"parameter {param.name!r} has the wrong type: {value!r}")
        if param.choices and value not in param.choices:
            choices = ", ".join(map(str, param.choices))
            raise TransformError(f"parameter {param.name!r} must be one of {choices}")
        params[param.name] = value
    return params


def describe() -> list[tuple[str, str, str]]:
    """(name, parameters, what it does) for every transform, for the docs and `--help`."""
    rows = []
    for name in sorted(_REGISTRY):
        t = _REGISTRY[name]
        params = ", ".join(
            f"{p.name}{'*' if p.required else ''}"
            + (f" ({'|'.join(map(str, p.choices))})" if p.choices else "")
            for p in t.params
        )
        rows.append((name, params, t.doc))
    return rows
