"""Nova Poshta as a carrier (connector/delivery/carriers.py): register, track, cancel.

Facts from research/shop_delivery_loyalty.md 4.2: `InternetDocument.save` answers the waybill
number (`IntDocNumber`) at once and has no idempotency of its own (so delivery guards it with a
marker: `idempotent = False`); our order id travels as the client barcode. API 2.0 has no push
at all: open waybills are tracked 100 per call (`TrackingDocument.getStatusDocuments`) and each
is mapped through mappings/novaposhta/shipment.yaml. `InternetDocument.delete` removes a waybill
not yet handed over (status 2, deleted). Under `novaposhta:` in the delivery rules, `sender`
holds the sender's references and capitalised keys are sent as `InternetDocument.save`
properties as written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from connector.delivery.carriers import Registered, StatusMap, recipient_name
from connector.delivery.rules import DeliveryRules, weight_of
from connector.delivery.shipments import Observation
from connector.delivery.tracking import poll_task
from connector.errors import MappingError
from connector.identity import Link

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.novaposhta import NovaPoshtaClient

NAME = "novaposhta"
CREATED = "1"
DELETED = "2"
NP_TERMS = {
    "service_type": "ServiceType",
    "payer_type": "PayerType",
    "payment_method": "PaymentMethod",
    "cargo_type": "CargoType",
}


def novaposhta_waybill(
    order: Mapping[str, Any], rules: DeliveryRules, today: dt.date | None = None
) -> dict[str, Any]:
    """`InternetDocument.save` properties; the recipient is given by name, city and address."""
    config = dict(rules.options_for(NAME))
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


def novaposhta_observation(canonical: Mapping[str, Any]) -> Observation:
    """A tracked document mapped by mappings/novaposhta/shipment.yaml, as an observation."""
    return Observation(
        state=canonical["state"],
        carrier_status=str(canonical.get("carrier_status") or ""),
        status_at=canonical.get("state_at"),
        tracking_number=canonical.get("tracking_number"),
        city=canonical.get("city"),
    )


class NovaPoshtaCarrier:
    """Nova Poshta API 2.0: a waybill number at once, no idempotency, no push."""

    name, title = NAME, "Nova Poshta"
    pushes = False
    idempotent = False
    batch = 100  # getStatusDocuments takes up to 100 documents

    def client(self, services: Services) -> NovaPoshtaClient:
        found: NovaPoshtaClient = services.client(NAME)
        return found

    def status_map(self, services: Services) -> StatusMap:
        return services.mappings.current.value_map(NAME, "shipment_state")

    def now(self, services: Services) -> dt.datetime:
        return dt.datetime.fromtimestamp(services.queue.clock(), dt.UTC)

    def register(
        self, services: Services, order: Mapping[str, Any], rules: DeliveryRules
    ) -> Registered:
        today = self.now(services).date()
        waybill = self.client(services).create_waybill(novaposhta_waybill(order, rules, today))
        number = str(waybill["IntDocNumber"])
        ref = str(waybill.get("Ref") or number)
        state = self.status_map(services).to_canonical(CREATED)
        return Registered(ref, Observation(state, CREATED, None, tracking_number=number))

    def observe(
        self, services: Services, shipments: list[Link]
    ) -> Iterator[tuple[Link, Observation | MappingError]]:
        waiting = [link for link in shipments if link.data.get("tracking_number")]
        if not waiting:
            return
        client = self.client(services)
        mapping = services.mappings.current.get(NAME, "shipment")
        for start in range(0, len(waiting), self.batch):
            part = waiting[start : start + self.batch]
            by_number = {str(link.data["tracking_number"]): link for link in part}
            documents = [(number, link.data.get("phone")) for number, link in by_number.items()]
            for item in client.track(documents):
                link = by_number.get(str(item.get("Number")))
                if link is None:
                    continue
                try:
                    yield link, novaposhta_observation(mapping.to_canonical(item))
                except MappingError as error:
                    yield link, error

    def cancel(self, services: Services, shipment: Link) -> Observation:
        """`InternetDocument.delete` of the waybill's Ref; its status is then 2 (deleted)."""
        self.client(services).delete_waybill(shipment.external_id)
        state = self.status_map(services).to_canonical(DELETED)
        return Observation(state, DELETED, self.now(services))


CARRIER = NovaPoshtaCarrier()


poll = poll_task(NAME)  # `delivery.poll_novaposhta`: API 2.0 has no push, so it is polled
