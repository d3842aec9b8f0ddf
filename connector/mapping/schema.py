"""Marshmallow schemas for the three kinds of files in `mappings/`: mappings, value maps, defaults.

They check structure and types only (keys, directions, flags); names that depend on other files
(transforms, value maps, canonical fields) are checked when a mapping is compiled (`engine.py`).
Unknown keys are errors, reported with the nearest valid key.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connector.mapping.value_maps import CANONICAL_DOMAINS, parse_unmapped
from connector.model import ENTITIES

DIRECTIONS = ("in", "out", "both")

BITRIX24_FIELD_TYPES = (
    "string",
    "integer",
    "double",
    "boolean",
    "date",
    "datetime",
    "money",
    "enumeration",
    "url",
    "address",
)
MAILCHIMP_MERGE_TYPES = (
    "text",
    "number",
    "address",
    "phone",
    "date",
    "url",
    "imageurl",
    "radio",
    "dropdown",
    "birthday",
    "zip",
)


class PathOrPaths(fields.Field):
    """A path, or a list of paths for fields that join, split or coalesce several values."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if (
            isinstance(value, list)
            and len(value) > 1
            and all(isinstance(v, str) and v.strip() for v in value)
        ):
            return [v.strip() for v in value]
        raise ValidationError("must be a path or a list of at least two paths")


class OptionsSchema(Schema):
    """Settings that transforms read when a parameter is not given (a file's or `defaults.yaml`)."""

    phone_region = fields.String()
    timezone = fields.String()
    currency = fields.String()


class FieldSchema(Schema):
    """One field pair of a mapping file."""

    canonical = PathOrPaths()
    system = PathOrPaths()
    direction = fields.String(load_default="both", validate=validate.OneOf(DIRECTIONS))
    transforms = fields.List(fields.Raw(), load_default=list)
    on_create_only = fields.Boolean(load_default=False)
    skip_if_empty = fields.Boolean(load_default=False)
    owner = fields.String()
    note = fields.String()


class CustomFieldSchema(Schema):
    """A custom CRM field (`UF_CRM_*`) or Mailchimp merge field that setup creates when missing."""

    name = fields.String(required=True)
    type = fields.String(required=True)
    label = fields.String()
    required = fields.Boolean(load_default=False)
    multiple = fields.Boolean(load_default=False)
    options = fields.List(fields.String())
    note = fields.String()


class MappingFileSchema(Schema):
    """`mappings/<system>/<entity>.yaml`: how one system's record maps to a canonical entity."""

    system = fields.String(required=True)
    entity = fields.String(required=True)
    canonical = fields.String(validate=validate.OneOf(sorted(ENTITIES)))
    description = fields.String()
    options = fields.Nested(OptionsSchema, load_default=dict)
    fields_ = fields.List(
        fields.Nested(FieldSchema),
        data_key="fields",
        required=True,
        validate=validate.Length(min=1),
    )
    custom_fields = fields.List(fields.Nested(CustomFieldSchema), load_default=list)


class UnmappedSchema(Schema):
    """What an unmapped value does, per direction."""

    in_ = fields.Raw(data_key="in", required=True)
    out = fields.Raw(required=True)

    @validates_schema
    def check(self, data: dict[str, Any], **kwargs: Any) -> None:
        for key, data_key in (("in_", "in"), ("out", "out")):
            try:
                parse_unmapped(data.get(key))
            except ValueError as error:
                raise ValidationError(str(error), data_key) from None


class ValueMapFileSchema(Schema):
    """A value map file: one enumeration of one system."""

    value_map = fields.String(required=True)
    system = fields.String()
    description = fields.String()
    canonical_values = fields.String(validate=validate.OneOf(sorted(CANONICAL_DOMAINS)))
    pairs = fields.Dict(load_default=dict)
    in_ = fields.Dict(data_key="in", load_default=dict)
    out = fields.Dict(load_default=dict)
    unmapped = fields.Nested(UnmappedSchema, required=True)
    strip_prefix_before = fields.String()


class DefaultsFileSchema(Schema):
    """`mappings/defaults.yaml`: options every file inherits (phone region, time zone, currency)."""

    defaults = fields.Nested(OptionsSchema, required=True)


# Rules files of features that share the mappings folder and its validate run; each feature's
# own module checks its file (`validate_rules_file(path) -> list[MappingError]`).
RULES_FILES = {
    "loyalty": "connector.loyalty.rules",
    "delivery": "connector.delivery.rules",
    "analytics": "connector.analytics.rules",
    "cascades": "connector.cascades.rules",
    "catalogue": "connector.catalogue.rules",
}


def kind_of(data: Any) -> str:
    """Which kind of file the top-level keys say: `mapping`, `value_map`, `defaults`, or the
    rules file of a feature (`loyalty`, `delivery`, `analytics`: see `RULES_FILES`)."""
    if isinstance(data, dict):
        if "value_map" in data:
            return "value_map"
        for feature in RULES_FILES:
            if feature in data and "fields" not in data:
                return feature
        if "defaults" in data and "fields" not in data:
            return "defaults"
    return "mapping"


SCHEMAS: dict[str, type[Schema]] = {
    "mapping": MappingFileSchema,
    "value_map": ValueMapFileSchema,
    "defaults": DefaultsFileSchema,
}


def valid_keys(kind: str, location: tuple[Any, ...]) -> list[str]:
    """The keys allowed at a location, for 'did you mean' on unknown keys."""
    schema: Schema = SCHEMAS[kind]()
    for part in location:
        if isinstance(part, int):
            continue
        field = next(
            (f for n, f in schema.fields.items() if (f.data_key or n) == part),
            None,
        )
        inner = getattr(field, "inner", field)
        nested = getattr(inner, "nested", None)
        if nested is None:
            return []
        schema = nested() if isinstance(nested, type) else nested
    return [f.data_key or n for n, f in schema.fields.items()]
