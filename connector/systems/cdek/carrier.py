"""CDEK as a carrier (connector/delivery/carriers.py): register, track, cancel, and its webhook.

Facts from research/shop_delivery_loyalty.md 4.1: `POST /v2/orders` with `number` = our order id,
which CDEK refuses to take twice, so a retried registration finds the first one by `im_number`
(CDEK registration is idempotent); the waybill `cdek_number` appears asynchronously;
`GET /v2/orders/{uuid}` lists `statuses[]` in no reliable order and with `deleted` entries, so
they are sorted by time and the deleted ones skipped; `DELETE /v2/orders/{uuid}` cancels a parcel
not yet handed over (its status becomes REMOVED). Everything under `cdek:` in the delivery rules
is sent as CDEK order fields (tariff, from_location, sender, services...).

CDEK signs nothing and never re-sends a webhook: the route checks the secret in the URL;
`status_webhook` acts only for a shipment we registered and only on what `GET /v2/orders/{uuid}`
confirms, applying the newest live status CDEK lists. The poll reads every open parcel the same
way, for the webhooks that never came.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector.delivery.carriers import Registered, StatusMap, grams, recipient_name
from connector.delivery.rules import DeliveryRules, weight_of
from connector.delivery.shipments import SHIPMENT, Observation, apply_observation
from connector.delivery.tracking import poll_task
from connector.errors import MappingError, PermanentError
from connector.flows.hub import skip
from connector.identity import Link, as_moment, find_link
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.services import Services
    from connector.systems.cdek import CdekClient

NAME = "cdek"
TAKEN = "v2_entity_already_exists"
REMOVED = "REMOVED"


def cdek_order(order: Mapping[str, Any], rules: DeliveryRules) -> dict[str, Any]:
    """The `POST /v2/orders` body of an online-store order (type 1)."""
    weight = grams(weight_of(order, rules.default_weight_kg))
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
    return body | dict(rules.options_for(NAME))


def cdek_observation(answer: Mapping[str, Any], state_map: StatusMap) -> Observation | None:
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


def cdek_statuses(entity: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Live statuses, newest first; for equal times the order CDEK listed them in is kept."""
    live = [s for s in entity.get("statuses") or [] if s.get("code") and not s.get("deleted")]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(live, key=lambda s: as_moment(s.get("date_time")) or epoch, reverse=True)


class CdekCarrier:
    """CDEK API v2: idempotent registration by our order number, webhooks plus a backstop poll."""

    name, title = NAME, "CDEK"
    pushes = True
    idempotent = True

    def client(self, services: Services) -> CdekClient:
        found: CdekClient = services.client(NAME)
        return found

    def status_map(self, services: Services) -> StatusMap:
        return services.mappings.current.value_map(NAME, "shipment_state")

    def option_problems(self, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Its key of the delivery rules (`cdek:`), as `connector mappings validate` reports it."""
        if "tariff_code" in options and not isinstance(options["tariff_code"], int):
            return [("tariff_code", "must be a CDEK tariff number, e.g. 136")]
        return []

    def register(
        self, services: Services, order: Mapping[str, Any], rules: DeliveryRules
    ) -> Registered:
        client = self.client(services)
        try:
            uuid = client.create_order(cdek_order(order, rules))["entity"]["uuid"]
        except PermanentError as error:
            if error.code != TAKEN:
                raise
            found = client.find_order(order["id"])  # our own earlier attempt, its answer lost
            if not found:
                raise
            uuid = found["entity"]["uuid"]
        seen = cdek_observation(client.get_order(uuid), self.status_map(services))
        return Registered(str(uuid), seen)

    def observe(
        self, services: Services, shipments: list[Link]
    ) -> Iterator[tuple[Link, Observation | MappingError]]:
        client, state_map = self.client(services), self.status_map(services)
        for link in shipments:
            try:
                seen = cdek_observation(client.get_order(link.external_id), state_map)
            except MappingError as error:
                yield link, error
                continue
            except PermanentError as error:
                if error.status != 404:
                    raise
                skip("cdek poll", "CDEK does not know this order", uuid=link.external_id)
                continue
            if seen is not None:
                yield link, seen

    def cancel(self, services: Services, shipment: Link) -> Observation:
        """`DELETE /v2/orders/{uuid}`; the REMOVED status CDEK then lists, or one as of now."""
        client, state_map = self.client(services), self.status_map(services)
        client.delete_order(shipment.external_id)
        seen = cdek_observation(client.get_order(shipment.external_id), state_map)
        if seen is not None and seen.carrier_status == REMOVED:
            return seen
        now = dt.datetime.fromtimestamp(services.queue.clock(), dt.UTC)
        return Observation(state_map.to_canonical(REMOVED), REMOVED, now)


CARRIER = CdekCarrier()


def status_webhook(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`cdek.status` {uuid, code, status_at, cdek_number, number}, queued by the webhook route."""
    services, uuid = ctx.services, str(payload["uuid"])
    link = find_link(services.engine, SHIPMENT, NAME, uuid)
    if link is None:
        skip("cdek status", "not a shipment we registered", uuid=uuid, number=payload.get("number"))
        return
    try:
        answer = CARRIER.client(services).get_order(uuid)
    except PermanentError as error:
        if error.status == 404:
            skip("cdek status", "CDEK does not know this order", uuid=uuid)
            return
        raise
    codes = {s["code"] for s in cdek_statuses(answer.get("entity") or {})}
    if payload.get("code") not in codes:
        skip("cdek status", "not confirmed by CDEK", uuid=uuid, code=payload.get("code"))
        return
    seen = cdek_observation(answer, CARRIER.status_map(services))
    if seen is None:
        return
    outcome = apply_observation(services, link.canonical_id, NAME, seen)
    if not outcome.applied:
        skip("cdek status", outcome.reason, order=link.canonical_id, code=seen.carrier_status)


poll = poll_task(NAME)  # `delivery.poll_cdek`: the backstop for webhooks CDEK never re-sends
