"""Kaspi orders in and cancellations out, through the shop order flow.

In (`kaspi.order`, queued by the poll): the order as Kaspi listed it, plus its lines (three calls
per line: entries, master product, merchant product for the SKU), goes through
mappings/kaspi/order.yaml and customer.yaml into the canonical order, and from there the same
`ingest_order` as a web or POS order takes it: the buyer found by phone (read as Kazakh) or made,
a deal in Bitrix24, a Mailchimp order only for a buyer known with an e-mail, bonus events on
each transition (paid, cancelled, refunded: a cancellation or return reverses the accrual).
A new order (APPROVED_BY_BANK) is then accepted when CONNECTOR_KASPI_AUTO_ACCEPT is on.

Out (`push.kaspi.order`, fanned out when the hub's order changes elsewhere): a deal lost in the
CRM (canonical `cancelled`) cancels the Kaspi order while Kaspi still allows it. Completing needs
the code Kaspi sends the buyer, so no other status goes back.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from connector.audit import record_write
from connector.errors import PermanentError
from connector.flows.hub import load_snapshot, skip
from connector.flows.orders import ingest_order
from connector.identity import find_link, order_id_for
from connector.systems.kaspi.settings import KaspiSettings
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.mapping import MappingSet
    from connector.systems.kaspi.client import KaspiClient

log = logging.getLogger("connector.flows")

NEW = "APPROVED_BY_BANK"
ACCEPTED = "ACCEPTED_BY_MERCHANT"
CANCELLABLE = (NEW, ACCEPTED)
CRM_CANCELLATION = "BUYER_CANCELLATION_BY_MERCHANT"
PERSON = ("phone", "first_name", "last_name")


def system_record(order: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What mappings/kaspi/order.yaml reads: the attributes, the id, the lines, and every
    `*Date` (epoch ms at Kaspi) as ISO 8601 UTC."""
    record = dict(order.get("attributes") or {})
    for name, value in list(record.items()):
        if name.endswith("Date") and isinstance(value, int | float) and not isinstance(value, bool):
            record[name] = dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat()
    return record | {"id": str(order["id"]), "lines": lines}


def to_canonical(mappings: MappingSet, order: dict[str, Any], lines: list[dict[str, Any]]) -> dict:
    """The canonical order of a Kaspi order, the buyer's details read through customer.yaml."""
    canonical = mappings.get("kaspi", "order").to_canonical(system_record(order, lines))
    buyer = (order.get("attributes") or {}).get("customer") or {}
    person = mappings.get("kaspi", "customer").to_canonical(buyer)
    canonical.update({name: person[name] for name in PERSON if person.get(name)})
    return canonical


def kaspi_order(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `kaspi.order` {id, code, status, order}: one order at one status, as polled."""
    from connector.systems.kaspi.system import kaspi_client

    services = ctx.services
    order = payload["order"]
    order_id = str(order["id"])
    status = str((order.get("attributes") or {}).get("status") or "")
    client = kaspi_client(services)
    link = find_link(services.engine, "order", "kaspi", order_id)
    seen = ((link.data or {}).get("seen") or {}) if link else {}
    if (seen.get("custom") or {}).get("kaspi_status") == status:
        skip("kaspi order", "status already applied", id=order_id, status=status)
    else:
        mappings = services.mappings.current
        canonical = to_canonical(mappings, order, client.order_lines(order_id))
        ingest_order(ctx, "kaspi", order_id, canonical, None)
    if status == NEW and services.settings.of(KaspiSettings).auto_accept:
        accept(ctx, client, order_id, str(payload.get("code") or order["attributes"]["code"]))


def accept(ctx: TaskContext, client: KaspiClient, order_id: str, code: str) -> None:
    """Accepts a new order; a refusal because it is no longer new (accepted by a retry of
    this task whose answer was lost, or cancelled by the buyer meanwhile) is not an error."""
    try:
        client.accept(order_id, code)
    except PermanentError as error:
        current = client.find_order(code)
        status = ((current or {}).get("attributes") or {}).get("status")
        if status == NEW:
            raise
        skip("kaspi acceptance", f"order is {status} already", id=order_id, refused=str(error))
        return
    _audit(ctx, "accept", order_id, code)


def push_kaspi_order(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.kaspi.order` {id: Kaspi order id, oid}: a cancellation made elsewhere (a deal
    lost in the CRM) cancels the Kaspi order if Kaspi still allows it."""
    from connector.systems.kaspi.system import kaspi_client

    services = ctx.services
    order = load_snapshot(services.engine, "order", payload["oid"])
    if order is None or order.get("status") != "cancelled":
        return
    code = str(order.get("number") or "")
    client = kaspi_client(services)
    current = client.find_order(code) if code else None
    status = ((current or {}).get("attributes") or {}).get("status")
    if status not in CANCELLABLE:
        skip("kaspi cancellation", f"Kaspi has the order as {status}", id=payload["id"])
        return
    client.cancel(str(payload["id"]), code, CRM_CANCELLATION)
    _audit(ctx, "cancel", str(payload["id"]), code, payload["oid"])


def _audit(ctx: TaskContext, action: str, order_id: str, code: str, oid: str | None = None) -> None:
    record_write(
        ctx.services.engine,
        system="kaspi",
        entity="order",
        action=action,
        external_id=order_id,
        canonical_id=oid or order_id_for("kaspi", order_id),
        task_id=ctx.task.id,
        detail={"code": code},
    )
