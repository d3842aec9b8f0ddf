"""Where parcel statuses come from: CDEK's ORDER_STATUS webhook, and the polls that back it up.

CDEK signs nothing and never re-sends (research/shop_delivery_loyalty.md 0.6, 4.1): webhooks.py
checks the secret in the URL; `cdek_status` acts only for a shipment we registered and only on
what `GET /v2/orders/{uuid}` confirms, applying the newest live status CDEK lists (a status that
a later one already superseded is history, not news). `poll_cdek` reads every CDEK parcel not in a
final state the same way, for the webhooks that never came. Nova Poshta 2.0 has no push at all:
`poll_novaposhta` tracks open waybills 100 per call and maps each through
mappings/novaposhta/shipment.yaml.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.delivery.carriers import cdek_observation, cdek_statuses, novaposhta_observation
from connector.delivery.rules import rules_for
from connector.delivery.shipments import SHIPMENT, apply_observation, open_shipments
from connector.errors import MappingError, PermanentError
from connector.flows.hub import skip
from connector.identity import find_link
from connector.tasks import TaskContext

log = logging.getLogger("connector.delivery")

CDEK_STATUS = "cdek.status"
POLL_CDEK = "delivery.poll_cdek"
POLL_NOVAPOSHTA = "delivery.poll_novaposhta"
NP_BATCH = 100


def cdek_status(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`cdek.status` {uuid, code, status_at, cdek_number, number}, queued by the webhook route."""
    services, uuid = ctx.services, str(payload["uuid"])
    link = find_link(services.engine, SHIPMENT, "cdek", uuid)
    if link is None:
        skip("cdek status", "not a shipment we registered", uuid=uuid, number=payload.get("number"))
        return
    try:
        answer = services.cdek.get_order(uuid)
    except PermanentError as error:
        if error.status == 404:
            skip("cdek status", "CDEK does not know this order", uuid=uuid)
            return
        raise
    codes = {s["code"] for s in cdek_statuses(answer.get("entity") or {})}
    if payload.get("code") not in codes:
        skip("cdek status", "not confirmed by CDEK", uuid=uuid, code=payload.get("code"))
        return
    _apply_cdek(ctx, link.canonical_id, answer)


def _apply_cdek(ctx: TaskContext, order_id: str, answer: dict[str, Any]) -> None:
    state_map = ctx.services.mappings.current.value_map("cdek", "shipment_state")
    seen = cdek_observation(answer, state_map)
    if seen is None:
        return
    outcome = apply_observation(ctx.services, order_id, "cdek", seen)
    if not outcome.applied:
        skip("cdek status", outcome.reason, order=order_id, code=seen.carrier_status)


def poll_cdek(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Backstop for lost webhooks: reads each open CDEK parcel and applies what changed."""
    services = ctx.services
    if not services.enabled("cdek"):
        return
    rules, unmapped = rules_for(services), []
    for link in open_shipments(services.engine, "cdek", rules.final_states):
        try:
            answer = services.cdek.get_order(link.external_id)
            _apply_cdek(ctx, link.canonical_id, answer)
        except MappingError as error:
            unmapped.append(f"{link.canonical_id}: {error}")
        except PermanentError as error:
            if error.status != 404:
                raise
            skip("cdek poll", "CDEK does not know this order", uuid=link.external_id)
    _report_unmapped(unmapped)


def poll_novaposhta(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Tracks open Nova Poshta waybills, up to 100 per call, and applies each one's status."""
    services = ctx.services
    if not services.enabled("novaposhta"):
        return
    rules = rules_for(services)
    waiting = [
        link
        for link in open_shipments(services.engine, "novaposhta", rules.final_states)
        if link.data.get("tracking_number")
    ]
    mapping = services.mappings.current.get("novaposhta", "shipment")
    unmapped: list[str] = []
    for start in range(0, len(waiting), NP_BATCH):
        batch = waiting[start : start + NP_BATCH]
        by_number = {str(link.data["tracking_number"]): link for link in batch}
        documents = [(number, link.data.get("phone")) for number, link in by_number.items()]
        for item in services.novaposhta.track(documents):
            link = by_number.get(str(item.get("Number")))
            if link is None:
                continue
            try:
                seen = novaposhta_observation(mapping.to_canonical(item))
            except MappingError as error:
                unmapped.append(f"{link.canonical_id}: {error}")
                continue
            outcome = apply_observation(services, link.canonical_id, "novaposhta", seen)
            if not outcome.applied:
                log.debug("waybill %s: %s", item.get("Number"), outcome.reason)
    _report_unmapped(unmapped)


def _report_unmapped(problems: list[str]) -> None:
    """The other parcels were applied; the unmapped statuses fail the task so an admin sees them."""
    if problems:
        raise MappingError("carrier statuses without a mapping: " + "; ".join(problems))
