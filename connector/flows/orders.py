"""Orders: a shop order becomes a Bitrix24 deal and a Mailchimp e-commerce order, and stays one
story as the shop, the manager and the customer change it.

In: a WooCommerce webhook is only a trigger (research/shop_delivery_loyalty.md 0.1, 0.4): the
order is read fresh; the generic contract's record is the order itself. The customer is resolved
(guests by billing email and phone), only the fields the source changed since we last saw it are
applied to the hub snapshot, and one push task per target system is queued. Status transitions
also queue `loyalty.order_event` for the bonus ledger.

Out: `push.bitrix24.deal` (deal with contact, stage from the status map, UTM fields, product rows,
a timeline comment per status change; a stage the manager moved since our last write is kept, as
`owner: bitrix24` in mappings/bitrix24/deal.yaml says), `push.mailchimp.order` (products first,
then the order that fires post-purchase automations, then the customer's open carts are deleted so
no abandoned-cart email follows a purchase); each shop's own push is in its system package
(connector/systems/woocommerce/push.py sets the shop status from a CRM stage change).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from connector import keys
from connector.audit import record_write
from connector.catalogue.store import with_catalogue_ids
from connector.errors import PermanentError
from connector.flows.customers import apply_crm_change, fan_out_customer
from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.flows.hub import (
    WOKEN_WAIT_SECONDS,
    Change,
    change_snapshot,
    changed_since,
    conflicting_fields,
    fan_out,
    load_snapshot,
    merge_values,
    skip,
    typed,
    wait_for_dependency,
)
from connector.flows.hub import push as hub_push
from connector.identity import (
    as_moment,
    find_link,
    find_links_by_data,
    fingerprint,
    is_echo,
    is_stale,
    jsonable,
    link_of,
    order_id_for,
    resolve_customer,
    save_link,
    version_text,
)
from connector.promo.campaigns import upsert_order
from connector.promo.coupons import refresh_usage, with_promo_types
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.mapping import MappingSet
    from connector.systems.bitrix24.batch import CommandResult
    from connector.systems.bitrix24.client import Bitrix24Client

DEAL_WATCH = ("status",)
# links of this entity (system "connector": the connector's own note, no record of Bitrix24's)
# mark orders whose Bitrix24 deal add was started (a lost answer may have made the deal): only
# those are looked for by ORIGIN_ID before a new add
ADDING = "bitrix24_deal_add"
PAID = ("processing", "shipped", "delivered", "completed")
DELIVERED = ("delivered", "completed")
PERSON_FIELDS = ("email", "phone", "first_name", "last_name", "loyalty_card")
LOYALTY_KIND = "loyalty.order_event"
CONTACT_PUSH = "push.bitrix24.contact"
# block checkout keeps a live order while the shopper types; WooCommerce still sends its webhooks
# (research/shop_delivery_loyalty.md 1.5): it is no order yet
CHECKOUT_DRAFTS = ("checkout-draft", "draft", "auto-draft")


def order_fingerprint(canonical: dict[str, Any]) -> str:
    """Hash of an order as a system holds it (its own id and modification time left out)."""
    return fingerprint({k: v for k, v in canonical.items() if k not in ("id", "updated_at")})


def mappings(ctx: TaskContext) -> MappingSet:
    return ctx.services.mappings.current


# --------------------------------------------------------------------------- in


def ingest_order(
    ctx: TaskContext, system: str, external_id: str, canonical: dict[str, Any], version: Any
) -> str | None:
    """Applies a shop's order to the hub and fans it out; None when stale or unchanged."""
    engine = ctx.services.engine
    link = find_link(engine, "order", system, external_id)
    if is_stale(link, version):
        skip("order", "stale", system=system, id=external_id)
        return None
    fresh = order_fingerprint(canonical)
    if is_echo(link, fresh):
        skip("order", "unchanged or echo", system=system, id=external_id)
        return None
    oid = link.canonical_id if link else order_id_for(system, external_id)
    seen = typed("order", (link.data or {}).get("seen")) if link else None
    delta = {k: v for k, v in changed_since(canonical, seen).items() if k != "id"}
    hub = load_snapshot(engine, "order", oid)
    source = mappings(ctx).get(system, "order")
    kept = conflicting_fields(mappings(ctx), source, delta, seen, hub)
    delta = {k: v for k, v in delta.items() if k not in kept}
    person = {name: canonical.get(name) for name in PERSON_FIELDS}
    ordered_at = jsonable(canonical.get("created_at") or canonical.get("updated_at"))
    with engine.begin() as connection:  # the buyer and the order: one write
        resolved = resolve_customer(
            connection,
            system,
            canonical.get("customer_id"),
            email=canonical.get("email"),
            phone=canonical.get("phone"),
            card=canonical.get("loyalty_card"),
        )
        cid = resolved.canonical_id
        buyer = change_snapshot(
            connection, "customer", cid, lambda cur: _with_order(cur, cid, person, ordered_at)
        )
        if buyer.changed - {"custom"} or resolved.created:
            fan_out_customer(connection, ctx, cid, exclude=system)
        change = change_snapshot(
            connection,
            "order",
            oid,
            lambda cur: (
                merge_values(cur, delta)
                | {
                    "id": oid,
                    "customer_id": cid,
                    "custom": {
                        **((cur or {}).get("custom") or {}),
                        **(delta.get("custom") or {}),
                        "source": {"system": system, "id": external_id},
                    },
                }
            ),
        )
        save_link(
            connection,
            "order",
            oid,
            system,
            external_id,
            fingerprint=fresh,
            version=version_text(version),
            data={"seen": {k: v for k, v in canonical.items() if k != "id"}},
        )
        if change.changed - {"updated_at"} or kept:
            # a kept conflict is written back to the source too: the owner's value wins there
            fan_out_order(connection, ctx, oid, exclude=None if kept else system, customer_id=cid)
        report_order_change(connection, ctx, change)
    return oid


def _with_order(
    current: dict[str, Any] | None, cid: str, person: dict[str, Any], ordered_at: Any
) -> dict[str, Any]:
    """The buyer's snapshot: contact details the hub lacks, and the time of the last order."""
    merged = merge_values(current, person, fill_only=True) | {"id": cid}
    custom = dict(merged.get("custom") or {})
    if ordered_at and (not custom.get("last_order_at") or custom["last_order_at"] < ordered_at):
        custom["last_order_at"] = ordered_at
    merged["custom"] = custom
    return merged


def fan_out_order(
    connection: Connection,
    ctx: Any,
    oid: str,
    exclude: str | None,
    customer_id: str | None = None,
) -> None:
    """One push task per target system that holds (or should hold) this order; given its
    `customer_id`, a system that must link the customer first (a deal names its contact)
    gets a push that waits for the customer's push to wake it."""
    fan_out(connection, ctx, "order", oid, exclude, parents={"customer": customer_id})


def woocommerce_order(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """A WooCommerce order webhook: a trigger to GET the order fresh (never trust the body)."""
    order_id = str(payload["id"])
    if payload.get("event") == "deleted":
        skip("order", "deleted in the shop", id=order_id)
        return
    link = find_link(ctx.services.engine, "order", "woocommerce", order_id)
    if is_stale(link, payload.get("modified")):
        skip("order", "stale webhook", id=order_id)
        return
    try:
        record = ctx.services.woocommerce.get_order(int(order_id))
    except PermanentError as error:
        if error.status == 404:
            skip("order", "gone from the shop", id=order_id)
            return
        raise
    if record.get("status") in CHECKOUT_DRAFTS:
        skip("order", "still in checkout", id=order_id)
        return
    canonical = mappings(ctx).get("woocommerce", "order").to_canonical(record)
    ingest_order(ctx, "woocommerce", order_id, canonical, record.get("date_modified_gmt"))


def shop_order(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """The generic contract's order (custom sites, POS): the record is the event."""
    data = payload["data"]
    canonical = mappings(ctx).get("shop", "order").to_canonical(data)
    version = data.get("updated_at") or payload.get("occurred_at")
    ingest_order(ctx, "shop", str(data["id"]), canonical, version)


# --------------------------------------------------------------------------- loyalty


def order_events(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened to an order between two snapshots, as the bonus ledger wants to hear it."""
    old = before or {}
    was, now = old.get("status"), after.get("status")
    total = Decimal(str(after.get("total") or 0))
    events: list[dict[str, Any]] = []
    if _paid(after) and not (before and _paid(old)):
        events.append({"event": "paid"})
    if now in DELIVERED and was not in DELIVERED:
        events.append({"event": "delivered"})
    if now == "cancelled" and was != "cancelled":
        events.append({"event": "cancelled"})
    refunded_before = abs(Decimal(str((old.get("custom") or {}).get("refunded_total") or 0)))
    refunded_now = abs(Decimal(str((after.get("custom") or {}).get("refunded_total") or 0)))
    amount = refunded_now - refunded_before
    if now == "refunded" and was != "refunded" and amount <= 0:
        amount = total - refunded_before  # a shop that reports only the status
    if amount > 0:
        events.append({"event": "refunded", "amount": str(amount)})
    if now == "returned" and was != "returned":
        events.append({"event": "returned"})
    return events


def _paid(order: dict[str, Any]) -> bool:
    return order.get("status") in PAID or bool(order.get("paid_at"))


def report_order_change(connection: Connection, ctx: TaskContext, change: Change) -> None:
    """Tells the features that follow orders (the bonus ledger, deliveries) about a change, in
    the flow's transaction, so their tasks are queued atomically with it."""
    report_to_loyalty(connection, ctx, change)
    report_to_delivery(connection, ctx, change)
    if "analytics.recompute" in ctx.services.registry:  # the buyer's RFM figures, at once
        from connector.analytics.keeper import order_changed

        order_changed(connection, ctx.services, change.after)
    report_to_cascades(connection, ctx, change)


def report_to_cascades(connection: Connection, ctx: TaskContext, change: Change) -> None:
    """A new order converts the buyer's cascades; a new status may start one (a review
    request after delivery)."""
    from connector.cascades.engine import ORDER_PLACED, ORDER_STATUS, notify

    after, before = change.after, change.before or {}
    cid, status = after.get("customer_id"), after.get("status")
    moment = as_moment(jsonable(after.get("created_at") or after.get("updated_at")))
    data = {"status": status, "number": after.get("number")}
    if change.before is None and status not in ("failed", "cancelled"):
        at = moment.timestamp() if moment else None
        notify(ctx.services, connection, ORDER_PLACED, cid, after["id"], data, at)
    if status and status != before.get("status"):
        notify(ctx.services, connection, ORDER_STATUS, cid, after["id"], data)


def report_to_delivery(connection: Connection, ctx: TaskContext, change: Change) -> None:
    """A new status may make the order ready to ship (the delivery feature decides)."""
    if "delivery.register" not in ctx.services.registry:
        return
    from connector.delivery import order_changed

    order_changed(ctx.services, change, connection=connection)


def report_to_loyalty(connection: Connection, ctx: TaskContext, change: Change) -> None:
    """Queues `loyalty.order_event` for each transition (when the loyalty feature is there)."""
    services = ctx.services
    if LOYALTY_KIND not in services.registry:
        return
    after = change.after
    version = jsonable(after.get("updated_at")) or str(ctx.task.id)
    card = None
    if after.get("customer_id"):
        buyer = load_snapshot(connection, "customer", after["customer_id"]) or {}
        card = buyer.get("loyalty_card")
    for event in order_events(change.before, after):
        detail = {
            "kind": event["event"],
            "total": str(after.get("total") or 0),
            "bonus_spent": str((after.get("custom") or {}).get("bonus_spent") or 0),
            "amount": event.get("amount"),
            "version": version,
            "at": time.time(),
        }
        # `event` as the ledger's handler reads it (connector/loyalty/tasks.py), and flat too
        payload = {
            "customer_id": after.get("customer_id"),
            "order_id": after["id"],
            "event": detail,
            "card": card,
            **{k: v for k, v in detail.items() if k != "at"},
        }
        services.queue.enqueue(
            LOYALTY_KIND,
            payload,
            dedupe_key=keys.loyalty_event(after["id"], event["event"], version),
            ordering_key=keys.loyalty_customer(after.get("customer_id")),
            connection=connection,
        )


# --------------------------------------------------------------------------- Bitrix24


class Bitrix24DealExporter(Exporter):
    """Creates or updates the order's deal; product rows replace the deal's rows.

    Reads only what the connector cannot answer itself: a deal whose fields, contact and rows
    are what the link says we last sent is left alone unread; the `ORIGIN_ID` search for a deal
    made before a lost answer runs only when an add was ever started for the order (the
    `ADDING` marker, stored before the add is sent)."""

    system, entity = "bitrix24", "order"

    def plan(self, push: Push) -> Plan | None:
        ctx, order, link, oid = push.ctx, push.record, push.link, push.canonical_id
        engine = ctx.services.engine
        cid = order.get("customer_id")
        contact = link_of(engine, "customer", cid, "bitrix24") if cid else None
        if cid and contact is None:
            # the contact push wakes this one when it links the contact (`Queue.wake`)
            if not ctx.services.queue.pending(
                CONTACT_PUSH, ctx.services.systems.push_key(CONTACT_PUSH, cid)
            ):
                with engine.begin() as connection:  # the contact's own push was lost
                    hub_push(
                        connection,
                        ctx,
                        CONTACT_PUSH,
                        cid,
                        dedupe_key=keys.contact_for_deal(ctx.task.id),
                    )
            contact = link_of(engine, "customer", cid, "bitrix24")  # linked meanwhile: go on
            if contact is None:
                wait_for_dependency(ctx, f"the contact of order {oid}", wait=WOKEN_WAIT_SECONDS)
        deal_map = mappings(ctx).get("bitrix24", "deal")
        rows_order = with_catalogue_ids(engine, order)  # PRODUCT_ID by SKU (docs/catalogue.md)
        rows = mappings(ctx).get("bitrix24", "product_rows").to_system(rows_order).get("rows", [])
        rows_fp = fingerprint({"rows": rows})
        contact_id = int(contact.external_id) if contact else None
        wanted = deal_map.to_system(order)
        sent_fp = fingerprint({"fields": wanted, "contact": contact_id})
        wanted_fp = fingerprint(deal_map.to_canonical(wanted), DEAL_WATCH)
        held = (link.data or {}) if link else {}
        if link and held.get("sent") == sent_fp and held.get("rows") == rows_fp:
            return None  # what the deal holds is what we last sent: nothing to write or read
        client = ctx.services.bitrix24
        deal_id, current = _find_deal(engine, client, link, oid)
        if current is None:
            return self._create(ctx, order, deal_map, contact_id, rows, sent_fp, wanted_fp, rows_fp)
        conflicts: set[str] = set()
        current_fp = fingerprint(deal_map.to_canonical(current), DEAL_WATCH)
        if link is not None and link.fingerprint and current_fp != link.fingerprint:
            conflicts = set(DEAL_WATCH)  # the manager moved the stage: the CRM keeps it
        fields = _deal_changes(
            deal_map.to_system(order, existing=current, conflicts=conflicts), current
        )
        if contact_id and str(current.get("CONTACT_ID") or "") != str(contact_id):
            fields["CONTACT_ID"] = contact_id
        last_status = held.get("status")
        fingerprint_now: str | None = None
        if conflicts:
            # The manager's move is news the hub has not applied yet (its event may be queued,
            # or lost: Bitrix24 never re-sends). Apply it through the CRM flow, in the deal's order.
            apply_crm_change(ctx, "deal", deal_id)
        elif fields:
            # saved before the write, so the write's echo is always recognised
            save_link(engine, "order", oid, "bitrix24", deal_id, fingerprint=wanted_fp)
            fingerprint_now = wanted_fp
        writes: list[Write] = []
        external = str(deal_id)
        if fields:
            changed = dict(fields)
            writes.append(
                Write(
                    "bitrix24",
                    "deal",
                    "update",
                    external,
                    lambda c: c.update_deal(deal_id, changed),
                    {"fields": sorted(changed)},
                )
            )
        if "STAGE_ID" in fields and last_status and last_status != order.get("status"):
            text = f"Order status changed in the shop: {last_status} → {order.get('status')}"
            writes.append(
                Write(
                    "bitrix24",
                    "deal",
                    "comment",
                    external,
                    lambda c: c.add_timeline_comment("deal", deal_id, text),
                )
            )
        if not link or held.get("rows") != rows_fp:
            writes.append(
                Write(
                    "bitrix24",
                    "deal",
                    "rows",
                    external,
                    lambda c: c.set_product_rows(deal_id, rows),
                )
            )
        status = order.get("status") if not conflicts else last_status
        data: dict[str, Any] = {"status": status, "rows": rows_fp}
        data["sent"] = None if conflicts else sent_fp
        return Plan(writes, external_id=external, fingerprint=fingerprint_now, data=data)

    def _create(
        self,
        ctx: TaskContext,
        order: dict[str, Any],
        deal_map: Any,
        contact_id: int | None,
        rows: list[Any],
        sent_fp: str,
        wanted_fp: str,
        rows_fp: str,
    ) -> Plan:
        """A new deal: the `ADDING` marker first (durable), then the add and its rows."""
        oid = str(order["id"])
        fields = {
            k: v for k, v in deal_map.to_system(order, creating=True).items() if v is not None
        }
        if contact_id:
            fields["CONTACT_ID"] = contact_id
        engine = ctx.services.engine
        save_link(engine, ADDING, oid, "connector", oid)
        rows_done: list[CommandResult] = []
        rows_write = Write("bitrix24", "deal", "rows", None, lambda c: rows_done[0].unwrap())

        def add(client: Bitrix24Client) -> int:
            # the add and the rows in one request: the rows name the new deal by reference
            deal_id, rows_result = client.add_deal_with_rows(fields, rows)
            rows_write.external_id = str(deal_id)
            rows_done.append(rows_result)
            # linked as soon as the answer is here, before the rows' outcome is judged: the
            # rows' echo event (or a move made after that) finds the link, read and compared
            status = {"status": order.get("status")}
            save_link(engine, "order", oid, "bitrix24", deal_id, fingerprint=wanted_fp, data=status)
            return deal_id

        data = {"status": order.get("status"), "rows": rows_fp, "sent": sent_fp}
        return Plan(
            [Write("bitrix24", "deal", "add", None, add, creates=True), rows_write],
            fingerprint=wanted_fp,
            data=data,
        )


def push_bitrix24_deal(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.bitrix24.deal` {id: canonical order id}."""
    Bitrix24DealExporter().run(ctx, payload)


def _find_deal(engine: Any, client: Bitrix24Client, link: Any, oid: str) -> tuple[Any, Any]:
    """The linked deal, else one made for this order before a lost answer (ORIGIN_ID), looked
    for only when an add was ever started for the order."""
    deal_id = int(link.external_id) if link else None
    if deal_id is None and link_of(engine, ADDING, oid, "connector") is not None:
        found = client.call("crm.deal.list", {"filter": {"ORIGIN_ID": oid}, "select": ["ID"]})
        deal_id = int(found[0]["ID"]) if found else None
    if deal_id is None:
        return None, None
    try:
        return deal_id, client.get_deal(deal_id)
    except PermanentError:
        return None, None


def _deal_changes(wanted: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Fields whose value differs from the deal's (numbers compared as numbers)."""
    changes = {}
    for name, value in wanted.items():
        if value is None:
            continue
        if _same_value(current.get(name), value):
            continue
        changes[name] = value
    return changes


def _same_value(held: Any, wanted: Any) -> bool:
    if held is None:
        return wanted in ("", None)
    try:
        return Decimal(str(held)) == Decimal(str(wanted))
    except ArithmeticError:
        return str(held) == str(wanted)


# --------------------------------------------------------------------------- Mailchimp


class MailchimpOrderExporter(Exporter):
    """Upserts the e-commerce order, then deletes the buyer's open carts in Mailchimp."""

    system, entity = "mailchimp", "order"

    def plan(self, push: Push) -> Plan | None:
        ctx, order, oid, link = push.ctx, push.record, push.canonical_id, push.link
        engine = ctx.services.engine
        cid = order.get("customer_id")
        customer = load_snapshot(engine, "customer", cid) if cid else None
        email = (customer or {}).get("email") or order.get("email")
        if not email:
            skip("mailchimp order", "no email to address it to", order=oid)
            return None
        store = ctx.services.settings.mailchimp_store_id
        # a prerequisite, written now: Mailchimp refuses lines of a product it does not know
        ensure_products(ctx, order.get("lines") or [])
        person = {k: (customer or {}).get(k) or order.get(k) for k in ("first_name", "last_name")}
        order = with_promo_types(engine, order)  # each coupon's type (connector/promo)
        body = (
            mappings(ctx)
            .get("mailchimp", "order")
            .to_system(
                order | person | {"id": oid, "customer_id": cid, "email": email},
                creating=link is None,
            )
        )
        written = fingerprint(body)
        if link is not None and link.fingerprint == written:
            return Plan([], save_link=False)  # Mailchimp holds it already; carts still close
        upsert = Write("mailchimp", "order", "upsert", oid, lambda c: upsert_order(c, store, body))
        return Plan([upsert], external_id=oid, fingerprint=written)

    def after(self, push: Push, plan: Plan) -> None:
        refresh_usage(push.ctx, push.record)  # its coupons' usage counts, read again
        cid = push.record.get("customer_id")
        if cid:
            close_open_carts(push.ctx, cid)


def push_mailchimp_order(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.mailchimp.order` {id: canonical order id}."""
    MailchimpOrderExporter().run(ctx, payload)


def close_open_carts(ctx: TaskContext, cid: str) -> None:
    """Deletes the customer's open Mailchimp carts: a buyer gets no abandoned-cart email."""
    engine, client = ctx.services.engine, ctx.services.mailchimp
    store = ctx.services.settings.mailchimp_store_id
    for cart in find_links_by_data(engine, "cart", "mailchimp", "customer_id", cid):
        if not cart.data.get("open"):
            continue
        client.delete_cart(store, cart.external_id)
        record_write(
            engine,
            system="mailchimp",
            entity="cart",
            action="delete",
            external_id=cart.external_id,
            canonical_id=cart.canonical_id,
            task_id=ctx.task.id,
        )
        save_link(
            engine, "cart", cart.canonical_id, "mailchimp", cart.external_id, data={"open": False}
        )


def ensure_products(ctx: TaskContext, lines: list[dict[str, Any]]) -> None:
    """Mailchimp refuses lines whose product variant it does not know: create them first."""
    engine, client = ctx.services.engine, ctx.services.mailchimp
    store = ctx.services.settings.mailchimp_store_id
    mapping = mappings(ctx).get("mailchimp", "product")
    for line in lines:
        product_id = line.get("product_id") or line.get("sku") or line.get("id")
        if not product_id:
            continue
        variant_id = line.get("variant_id") or product_id
        key = f"{product_id}:{variant_id}"
        if link_of(engine, "product", key, "mailchimp") is not None:
            continue
        item = {
            "name": line.get("name") or str(product_id),
            "sku": line.get("sku"),
            "price": line.get("price"),
        }
        body = mapping.to_system(item | {"id": product_id})
        variant = mapping.to_system(item | {"id": variant_id})
        body["variants"] = variant.get("variants") or body.get("variants")
        try:
            client.upsert_product(store, body)
        except PermanentError as error:
            if error.status != 400:
                raise
            # another task created it between our PATCH (404) and POST: now it updates
            client.upsert_product(store, body)
        save_link(engine, "product", key, "mailchimp", f"{store}:{key}")
