"""What each carrier needs to register a parcel, and how its answers read as observations.

CDEK (research/shop_delivery_loyalty.md 4.1): `POST /v2/orders` with `number` = our order id, which
CDEK refuses to take twice, so a retried registration finds the first one by `im_number`; the
waybill `cdek_number` appears asynchronously; `GET /v2/orders/{uuid}` lists `statuses[]` in no
reliable order and with `deleted` entries, so they are sorted by time and the deleted ones skipped.
Nova Poshta (4.2): `InternetDocument.save` answers the waybill number (`IntDocNumber`) at once and
has no idempotency of its own; our order id travels as the client barcode.

Everything under `cdek:` in the rules is sent as CDEK order fields (tariff, from_location, sender,
services...); under `novaposhta:`, `sender` holds the sender's references and capitalised keys are
sent as `InternetDocument.save` properties as written.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.delivery.rules import DeliveryRules, weight_of
from connector.delivery.shipments import Observation
from connector.identity import as_moment

NP_TERMS = {
    "service_type": "ServiceType",
    "payer_type": "PayerType",
    "payment_method": "PaymentMethod",
    "cargo_type": "CargoType",
}


def recipient_name(order: dict[str, Any]) -> str:
    name = " ".join(p for p in (order.get("first_name"), order.get("last_name")) if p)
    return name or str(order.get("email") or "Customer")


def _grams(kg: Decimal) -> int:
    return max(1, int((kg * 1000).to_integral_value(ROUND_HALF_UP)))


# --------------------------------------------------------------------------- CDEK


def cdek_order(order: dict[str, Any], rules: DeliveryRules) -> dict[str, Any]:
    """The `POST /v2/orders` body of an online-store order (type 1)."""
    weight = _grams(weight_of(order, rules.default_weight_kg))
    length, width, height = rules.box_cm
    lines = order.get("lines") or []
    pieces = sum(int(Decimal(str(line.get("quantity") or 1))) for line in lines) or 1
    items = [
        {
            "name": str(line.get("name") or line.get("sku") or f"Item {index + 1}"),
            "ware_key": str(line.get("sku") or line.get("product_id") or index + 1),
            "payment": {"value": 0},  # paid online: nothing to collect on delivery
            "cost": float(Decimal(str(line.get("price") or 0))),
            "amount": int(Decimal(str(line.get("quantity") or 1))),
            "weight": max(1, weight // pieces),
        }
        for index, line in enumerate(lines)
    ]
    to_location = {
        "country_code": order.get("delivery_country"),
        "city": order.get("delivery_city"),
        "postal_code": order.get("delivery_postcode"),
        "address": order.get("delivery_address"),
    }
    recipient: dict[str, Any] = {"name": recipient_name(order)}
    if order.get("phone"):
        recipient["phones"] = [{"number": order["phone"]}]
    if order.get("email"):
        recipient["email"] = order["email"]
    body: dict[str, Any] = {
        "type": 1,
        "number": order["id"],
        "tariff_code": 136,
        "recipient": recipient,
        "to_location": {k: v for k, v in to_location.items() if v},
        "packages": [
            {
                "number": order["id"],
                "weight": weight,
                "length": length,
                "width": width,
                "height": height,
                "items": items,
            }
        ],
    }
    return body | dict(rules.cdek)


def cdek_observation(answer: dict[str, Any], state_map: Any) -> Observation | None:
    """The newest live status of a `GET /v2/orders/{uuid}` answer, with the waybill number."""
    entity = answer.get("entity") or {}
    statuses = cdek_statuses(entity)
    if not statuses:
        return None
    newest = statuses[0]
    return Observation(
        state=state_map.to_canonical(newest["code"]),
        carrier_status=str(newest["code"]),
        status_at=as_moment(newest.get("date_time")),
        tracking_number=str(entity["cdek_number"]) if entity.get("cdek_number") else None,
        city=newest.get("city") or None,
    )


def cdek_statuses(entity: dict[str, Any]) -> list[dict[str, Any]]:
    """Live statuses, newest first; for equal times the order CDEK listed them in is kept."""
    live = [s for s in entity.get("statuses") or [] if s.get("code") and not s.get("deleted")]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(live, key=lambda s: as_moment(s.get("date_time")) or epoch, reverse=True)


# --------------------------------------------------------------------------- Nova Poshta


def novaposhta_waybill(
    order: dict[str, Any], rules: DeliveryRules, today: dt.date | None = None
) -> dict[str, Any]:
    """`InternetDocument.save` properties; the recipient is given by name, city and address."""
    config = dict(rules.novaposhta)
    weight = weight_of(order, rules.default_weight_kg)
    phone = "".join(ch for ch in str(order.get("phone") or "") if ch.isdigit())
    properties: dict[str, Any] = {
        "ServiceType": "WarehouseWarehouse",
        "PayerType": "Recipient",
        "PaymentMethod": "Cash",
        "CargoType": "Parcel",
        "SeatsAmount": "1",
        "DateTime": (today or dt.date.today()).strftime("%d.%m.%Y"),
        "Weight": str(weight),
        "Cost": str(Decimal(str(order.get("total") or 0)).quantize(Decimal("1"), ROUND_HALF_UP)),
        "Description": f"Order {order.get('number') or order['id']}",
        "InfoRegClientBarcodes": order["id"],
        "RecipientType": "PrivatePerson",
        "RecipientName": recipient_name(order),
        "RecipientsPhone": phone,
        "RecipientCityName": order.get("delivery_city") or "",
        "RecipientAddressName": order.get("delivery_address") or "",
    }
    for key, name in NP_TERMS.items():
        if config.get(key):
            properties[name] = config[key]
    properties |= dict(config.get("sender") or {})
    properties |= {k: v for k, v in config.items() if k[:1].isupper()}
    if int(Decimal(properties["Cost"])) <= 0:
        properties["Cost"] = "1"  # Nova Poshta refuses an empty declared value
    return properties


def novaposhta_observation(canonical: dict[str, Any]) -> Observation:
    """A tracked document mapped by mappings/novaposhta/shipment.yaml, as an observation."""
    return Observation(
        state=canonical["state"],
        carrier_status=str(canonical.get("carrier_status") or ""),
        status_at=canonical.get("state_at"),
        tracking_number=canonical.get("tracking_number"),
        city=canonical.get("city"),
    )
