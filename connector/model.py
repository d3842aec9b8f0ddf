"""Canonical entities: the one shape every flow speaks, whatever system the data came from.

Mapping files translate each system's payloads to and from plain dicts of these fields
(`connector.mapping`); the dataclasses give flows names, types and defaults. Money is `Decimal`,
moments are timezone-aware `datetime`s in UTC, phones are E.164 strings, emails are lower-case.
An `id` is the record's id in the system it was read from; flows swap in linked ids before writing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "refunded",
    "failed",
)
"""Canonical order statuses; `processing` means paid and being prepared."""

SHIPMENT_STATES = (
    "created",
    "accepted",
    "in_transit",
    "arrived_at_pickup",
    "out_for_delivery",
    "delivered",
    "returning",
    "returned",
    "lost",
    "cancelled",
)
"""Canonical shipment states shared by every carrier."""

BONUS_KINDS = ("accrual", "spend", "reversal", "expiry", "adjustment")
"""Kinds of bonus ledger entries."""


class Entity:
    """Shared dict conversion: mappings produce dicts, flows prefer attributes."""

    entity_name: ClassVar[str] = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Builds the entity from a canonical dict; unknown keys are a bug, so they raise."""
        known = _field_types(cls)
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
        values = {}
        for name, value in data.items():
            item_type = _list_item_entity(known[name])
            if item_type is not None and isinstance(value, list):
                value = [v if isinstance(v, Entity) else item_type.from_dict(v) for v in value]
            values[name] = value
        return cls(**values)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Any:
        """Builds the entity from JSON values (money and dates as text), e.g. a sample file."""
        return cls.from_dict(cls.coerce_json(data))

    @classmethod
    def coerce_json(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Converts the fields present in a JSON dict to their types; absent fields stay absent."""
        known = _field_types(cls)
        converted: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                converted[name] = value
                continue
            item_type = _list_item_entity(known[name])
            if item_type is not None and isinstance(value, list):
                converted[name] = [item_type.coerce_json(v) for v in value]
            else:
                converted[name] = _coerce(known[name], value)
        return converted

    def to_dict(self, *, drop_none: bool = False) -> dict[str, Any]:
        """Returns a canonical dict (nested lines as dicts); `drop_none` leaves out empty fields."""
        result: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = [
                    v.to_dict(drop_none=drop_none) if isinstance(v, Entity) else v for v in value
                ]
            if drop_none and value is None:
                continue
            result[f.name] = value
        return result


@dataclass
class Customer(Entity):
    """A person who buys or subscribes; matched across systems by phone and email."""

    entity_name: ClassVar[str] = "customer"

    id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    marketing_consent: bool | None = None
    company: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    state: str | None = None
    postcode: str | None = None
    country: str | None = None
    birthday: dt.date | None = None
    language: str | None = None
    loyalty_card: str | None = None
    bonus_balance: Decimal | None = None
    orders_count: int | None = None
    total_spent: Decimal | None = None
    tags: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class OrderLine(Entity):
    """One line of an order or a cart."""

    entity_name: ClassVar[str] = "line"

    id: str | None = None
    sku: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    name: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    discount: Decimal | None = None
    total: Decimal | None = None
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class Order(Entity):
    """A purchase from any channel (web shop, POS), with totals, payment and delivery."""

    entity_name: ClassVar[str] = "order"

    id: str | None = None
    number: str | None = None
    status: str | None = None
    currency: str | None = None
    total: Decimal | None = None
    subtotal: Decimal | None = None
    discount: Decimal | None = None
    shipping_total: Decimal | None = None
    tax_total: Decimal | None = None
    lines: list[OrderLine] = field(default_factory=list)
    coupons: list[str] = field(default_factory=list)
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    loyalty_card: str | None = None
    payment_method: str | None = None
    paid_at: dt.datetime | None = None
    delivery_type: str | None = None
    delivery_country: str | None = None
    delivery_city: str | None = None
    delivery_address: str | None = None
    delivery_postcode: str | None = None
    delivery_weight: Decimal | None = None
    tracking_number: str | None = None
    note: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class Cart(Entity):
    """An open basket; what abandoned-cart automations work from."""

    entity_name: ClassVar[str] = "cart"

    id: str | None = None
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    lines: list[OrderLine] = field(default_factory=list)
    total: Decimal | None = None
    currency: str | None = None
    checkout_url: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class Product(Entity):
    """A sellable item; e-commerce automations need it before any line refers to it."""

    entity_name: ClassVar[str] = "product"

    id: str | None = None
    sku: str | None = None
    name: str | None = None
    description: str | None = None
    price: Decimal | None = None
    regular_price: Decimal | None = None
    currency: str | None = None
    url: str | None = None
    image_url: str | None = None
    in_stock: bool | None = None
    stock_quantity: int | None = None
    categories: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    updated_at: dt.datetime | None = None


@dataclass
class Shipment(Entity):
    """A parcel of an order at a carrier, with its canonical state."""

    entity_name: ClassVar[str] = "shipment"

    order_id: str | None = None
    carrier: str | None = None
    carrier_id: str | None = None
    tracking_number: str | None = None
    state: str | None = None
    carrier_status: str | None = None
    city: str | None = None
    state_at: dt.datetime | None = None
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class BonusEntry(Entity):
    """One bonus ledger movement; the idempotency key makes a repeated task harmless."""

    entity_name: ClassVar[str] = "bonus"

    customer_id: str | None = None
    kind: str | None = None
    amount: Decimal | None = None
    order_id: str | None = None
    idempotency_key: str | None = None
    comment: str | None = None
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class Coupon(Entity):
    """A shop's discount code and its rule (connector/promo): Mailchimp promo rule and code.

    `type` is `percentage` (then `amount` is the percent, 10 = 10 %) or `fixed` (money);
    `target` is `total`, `per_item` or `shipping`."""

    entity_name: ClassVar[str] = "coupon"

    id: str | None = None
    code: str | None = None
    description: str | None = None
    type: str | None = None
    target: str | None = None
    amount: Decimal | None = None
    free_shipping: bool | None = None
    usage_count: int | None = None
    usage_limit: int | None = None
    url: str | None = None
    starts_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    enabled: bool | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


ENTITIES: dict[str, type[Entity]] = {
    cls.entity_name: cls for cls in (Customer, Order, Cart, Product, Shipment, BonusEntry, Coupon)
}
"""Canonical entity name -> class; mapping files name one of these keys."""


def _field_types(cls: type) -> dict[str, Any]:
    return dict(_resolved_field_types(cls))


@functools.cache
def _resolved_field_types(cls: type) -> Mapping[str, Any]:
    """The class's field hints, resolved once: `get_type_hints` compiles every string
    annotation on each call, and checking the mapping files asks thousands of times."""
    return types.MappingProxyType(
        {
            name: hint
            for name, hint in typing.get_type_hints(cls).items()
            if typing.get_origin(hint) is not ClassVar and name != "entity_name"
        }
    )


def field_types(entity: str) -> dict[str, Any]:
    """Field name -> type hint of a canonical entity (used to check mapping paths)."""
    return _field_types(ENTITIES[entity])


def line_field_types() -> dict[str, Any]:
    """Field name -> type hint of an order or cart line."""
    return _field_types(OrderLine)


def _list_item_entity(hint: Any) -> type[Entity] | None:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if isinstance(item, type) and issubclass(item, Entity):
            return item
    return None


def scalar_type(hint: Any) -> Any:
    """`Decimal | None` -> Decimal; `list[str]` -> list; used for coercion and test strategies."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return scalar_type(args[0]) if len(args) == 1 else object
    if origin is not None:
        return origin
    return hint


def _coerce(hint: Any, value: Any) -> Any:
    kind = scalar_type(hint)
    plain = value is None or isinstance(value, kind if isinstance(kind, type) else object)
    if plain and not (kind is Decimal and isinstance(value, float)):
        return value
    if kind is Decimal:
        return Decimal(str(value))
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if kind is dt.date:
        return dt.date.fromisoformat(str(value))
    if kind is int:
        return int(value)
    if kind is bool and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y")
    return value
