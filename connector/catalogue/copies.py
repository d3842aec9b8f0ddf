"""Copies of the catalogue: pushes of changed products to Bitrix24 and Mailchimp.

Each copy is an `Exporter` (connector/flows/exporter.py): `plan` compares what the copy should
hold (the bodies built from the canonical product, the price in force now) with the
fingerprints its link remembers, and returns `Write`s only for what changed. `push_many` runs
the exporter over a chunk of products: it plans every product, hands all the writes to the
copy's executor at once (Bitrix24: `batch` calls of 50 commands through the client and its
dispatcher; Mailchimp: up to its connection limit in parallel), then audits and saves every
link in one transaction. A write that failed leaves its product's link saying so; the task then
raises the first error, and its retry re-plans and sends only what still differs, so a copy that
drops writes still converges. Links (entity `catalogue_product`, one per product and copy):
Bitrix24 `data.variants = {variant id: {id: crm.product ID, fp, sku}}`, Mailchimp
`data = {product: fp, variants: {variant id: fp}}`.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import insert, select

from connector import keys
from connector.catalogue.model import Product
from connector.catalogue.rules import CatalogueRules, rules_for
from connector.catalogue.store import products
from connector.errors import ConnectorError, PermanentError
from connector.flows.exporter import Exporter, Plan, Push, Write, audit_write
from connector.identity import Link, fingerprint, link_from_row, save_link
from connector.store import reading
from connector.store.tables import links
from connector.systems.bitrix24 import products as b24
from connector.systems.mailchimp import products as mc
from connector.tasks import TaskContext

ENTITY = "catalogue_product"
KINDS = {"bitrix24": "push.bitrix24.catalogue", "mailchimp": "push.mailchimp.catalogue"}
CHUNK = 250  # products per bulk push task


def now_utc(ctx: TaskContext) -> dt.datetime:
    return dt.datetime.fromtimestamp(ctx.services.queue.clock(), dt.UTC)


def copies_on(services: Any, rules: CatalogueRules) -> list[str]:
    """The copies pushed to: on in catalogue.yaml and their system configured."""
    return [name for name in KINDS if rules.copy_on(name) and services.enabled(name)]


BUCKETS = 8  # a copy's pushes run in this many lanes at once


def bucket(product_id: str) -> int:
    return zlib.crc32(product_id.encode()) % BUCKETS


def ordering_key(copy: str, product_bucket: int) -> str:
    """A product's pushes to one copy run one at a time (no two adds of one item, no older price
    landing after a newer one): each product belongs to one of `BUCKETS` ordering keys, so up
    to that many chunks of different products are in flight together."""
    return keys.record("catalogue", copy, f"push-{product_bucket}")


def enqueue_pushes(
    services: Any,
    changed: Sequence[tuple[str, str]],
    *,
    connection: Any = None,
    force: bool = False,
    chunk: int = CHUNK,
    copies: Iterable[str] | None = None,
) -> int:
    """Queues the pushes of changed products `(product id, fingerprint)` to every copy: one task
    per product for a live change, chunks of `chunk` for bulk work; deduplicated by fingerprint."""
    if not changed:
        return 0
    rules = rules_for(services.settings)
    wanted = list(copies) if copies is not None else copies_on(services, rules)
    count = 0
    by_bucket: dict[int, list[tuple[str, str]]] = {}
    for item in changed:
        by_bucket.setdefault(bucket(item[0]), []).append(item)
    for copy in wanted:
        items = []
        for number, group in sorted(by_bucket.items()):
            for start in range(0, len(group), chunk):
                part = group[start : start + chunk]
                digest = fingerprint({"ids": [list(p) for p in part], "force": force})[:24]
                payload: dict[str, Any] = {"ids": [pid for pid, _ in part]}
                if force:
                    payload["force"] = True
                key = f"catalogue:push:{copy}:{digest}"
                items.append((payload, key, ordering_key(copy, number)))
        count += len(services.queue.enqueue_many(KINDS[copy], items, connection=connection))
    return count


def links_of_products(engine: Any, system: str, ids: Sequence[str]) -> dict[str, Link]:
    found: dict[str, Link] = {}
    with reading(engine) as connection:
        for start in range(0, len(ids), 500):
            query = select(links).where(
                links.c.entity == ENTITY,
                links.c.system == system,
                links.c.canonical_id.in_(list(ids[start : start + 500])),
            )
            for row in connection.execute(query):
                found[row.canonical_id] = link_from_row(row)
    return found


class _Failed:
    """A write's result when it failed (kept apart from answers, which may be anything)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def failed(result: Any) -> bool:
    return isinstance(result, _Failed)


class CatalogueExporter(Exporter):
    entity = ENTITY
    id_field = "id"

    def load(self, ctx: TaskContext, canonical_id: str) -> dict[str, Any] | None:
        found = next(iter(products(ctx.services.engine, ids=[canonical_id])), None)
        return None if found is None else {"product": found}

    def execute(self, ctx: TaskContext, writes: list[Write]) -> list[Any]:
        """Runs the writes of many products; a failure is returned as `_Failed`, not raised."""
        raise NotImplementedError

    def link_more(self, connection: Any, push: Push, plan: Plan) -> None:
        """Links besides the product's own, saved in the same transaction."""

    def run(self, ctx: TaskContext, payload: Mapping[str, Any]) -> None:
        ids = [str(i) for i in payload.get("ids") or [payload.get("id")] if i is not None]
        push_many(self, ctx, payload, ids)


def push_many(
    exporter: CatalogueExporter, ctx: TaskContext, payload: Mapping[str, Any], ids: list[str]
) -> int:
    """Plans every product, runs all writes at once, then audits and links in one transaction;
    raises the first write error afterwards (the retry sends only what still differs)."""
    engine = ctx.services.engine
    held = links_of_products(engine, exporter.system, ids)
    planned: list[tuple[Push, Plan, int, int]] = []
    writes: list[Write] = []
    for product in products(engine, ids=ids):
        push = Push(
            ctx, payload, product.product_id, {"product": product}, held.get(product.product_id)
        )
        plan = exporter.plan(push)
        if plan is None:
            continue
        planned.append((push, plan, len(writes), len(writes) + len(plan.writes)))
        writes.extend(plan.writes)
    results = exporter.execute(ctx, writes) if writes else []
    first_error: BaseException | None = None
    with engine.begin() as connection:
        for push, plan, start, end in planned:
            mine = results[start:end]
            if plan.settle is not None:
                plan.settle(plan, mine)
            for write, result in zip(plan.writes, mine, strict=True):
                if failed(result):
                    first_error = first_error or result.error
                    continue
                audit_write(connection, write, push.canonical_id, ctx.task.id)
            if plan.save_link and plan.external_id is not None:
                save_link(
                    connection,
                    ENTITY,
                    push.canonical_id,
                    exporter.system,
                    plan.external_id,
                    fingerprint=plan.fingerprint,
                    data=plan.data,
                )
                exporter.link_more(connection, push, plan)
    if first_error is not None:
        raise first_error
    return len(writes)


# -- Bitrix24 -------------------------------------------------------------------------------------


def bitrix24_bodies(
    product: Product, rules: CatalogueRules, now: dt.datetime
) -> dict[str, dict[str, Any]]:
    """The crm.product fields of each variant, by variant id."""
    stock_property = rules.copies["bitrix24"].stock_property if "bitrix24" in rules.copies else None
    return {
        v.variant_id: b24.item_fields(
            name=v.name,
            sku=v.sku,
            price=rules.round(v.price_at(now)),
            currency=v.currency,
            active=v.available(product.status),
            stock=v.stock,
            description=product.description,
            stock_property=stock_property,
        )
        for v in product.variants
    }


class Bitrix24CatalogueExporter(CatalogueExporter):
    system = "bitrix24"

    def plan(self, push: Push) -> Plan | None:
        ctx = push.ctx
        product: Product = push.record["product"]
        rules = rules_for(ctx.services.settings)
        bodies = bitrix24_bodies(product, rules, now_utc(ctx))
        force = bool(push.payload.get("force"))
        held: dict[str, dict[str, Any]] = (
            {
                vid: dict(item)
                for vid, item in ((push.link.data or {}).get("variants") or {}).items()
            }
            if push.link
            else {}
        )
        # an add whose answer was lost made an item we do not know: look it up by SKU first
        unknown = [str(b["XML_ID"]) for vid, b in bodies.items() if vid not in held and b["XML_ID"]]
        if unknown and (force or ctx.task.attempts > 1):
            found = b24.find_by_sku(ctx.services.bitrix24, unknown)
            for vid, body in bodies.items():
                if vid not in held and body["XML_ID"] in found:
                    held[vid] = {"id": found[body["XML_ID"]], "fp": None, "sku": body["XML_ID"]}
        writes: list[Write] = []
        targets: list[tuple[str, str, str | None]] = []  # (variant id, fp, known crm id)
        for vid, body in bodies.items():
            fp = fingerprint(body)
            item = held.get(vid)
            if item and item.get("fp") == fp and not force:
                continue
            if item:
                call = b24.update(str(item["id"]), body)
                writes.append(
                    Write(
                        "bitrix24",
                        "product",
                        "update",
                        str(item["id"]),
                        call,
                        detail={"sku": body["XML_ID"], "price": body["PRICE"]},
                    )
                )
            else:
                writes.append(
                    Write(
                        "bitrix24",
                        "product",
                        "add",
                        None,
                        b24.add(body),
                        detail={"sku": body["XML_ID"], "price": body["PRICE"]},
                        creates=True,
                    )
                )
            targets.append((vid, fp, str(item["id"]) if item else None))
        for vid, item in held.items():  # a variant gone from the master stays, inactive
            if vid not in bodies and item.get("fp") != "gone":
                call = b24.update(str(item["id"]), {"ACTIVE": "N"})
                writes.append(Write("bitrix24", "product", "update", str(item["id"]), call))
                targets.append((vid, "gone", str(item["id"])))
        if not writes:
            return None

        def settle(plan: Plan, results: list[Any]) -> None:
            variants = dict(held)
            for (vid, fp, crm_id), result in zip(targets, results, strict=True):
                if failed(result):
                    if crm_id is not None and vid in variants:
                        if _not_found(result.error):  # removed in the CRM: add it again
                            variants.pop(vid)
                        else:
                            variants[vid] = {**variants[vid], "fp": None}  # resend next time
                    continue
                new_id = crm_id or str(result)
                sku = bodies[vid]["XML_ID"] if vid in bodies else variants[vid].get("sku")
                variants[vid] = {"id": new_id, "fp": fp, "sku": sku}
            plan.data = {"variants": variants}
            plan.external_id = next((str(v["id"]) for v in variants.values()), None)

        return Plan(writes=writes, settle=settle, fingerprint=product.fingerprint())

    def execute(self, ctx: TaskContext, writes: list[Write]) -> list[Any]:
        commands = [w.call.command for w in writes if isinstance(w.call, b24.ProductCommand)]
        answers = iter(b24.run_commands(ctx.services.bitrix24, commands)) if commands else iter(())
        results: list[Any] = []
        for write in writes:
            if isinstance(write.call, b24.ProductCommand):
                answer = next(answers)
                results.append(_Failed(answer.error) if answer.error else answer.result)
            else:
                results.append(_call(write.call, ctx.services.bitrix24))
        return results


def _not_found(error: BaseException) -> bool:
    return isinstance(error, PermanentError) and "not found" in str(error).lower()


def _call(call: Callable[[Any], Any], client: Any) -> Any:
    try:
        return call(client)
    except ConnectorError as error:
        return _Failed(error)


# -- Mailchimp ------------------------------------------------------------------------------------


def mailchimp_bodies(
    product: Product, rules: CatalogueRules, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    body = mc.product_body(
        product_id=product.product_id,
        title=product.name,
        url=product.url,
        description=product.description,
        image_url=product.image_url,
    )
    variants = {
        v.variant_id: mc.variant_body(
            variant_id=v.variant_id,
            title=v.name,
            sku=v.sku,
            price=rules.round(v.price_at(now)),
            quantity=(v.stock if v.stock is not None else 1) if v.available(product.status) else 0,
            url=v.url,
            image_url=v.image_url,
        )
        for v in product.variants
    }
    return body, variants


def _variant_patch(store: str, product_id: str, variant: dict[str, Any]) -> Callable[[Any], Any]:
    return lambda client: mc.patch_variant(client, store, product_id, variant)


class MailchimpCatalogueExporter(CatalogueExporter):
    system = "mailchimp"

    def plan(self, push: Push) -> Plan | None:
        ctx = push.ctx
        product: Product = push.record["product"]
        rules = rules_for(ctx.services.settings)
        store = ctx.services.settings.mailchimp_store_id
        body, variants = mailchimp_bodies(product, rules, now_utc(ctx))
        force = bool(push.payload.get("force"))
        data = dict(push.link.data or {}) if push.link else {}
        held = dict(data.get("variants") or {})
        product_fp = fingerprint(body)
        writes: list[Write] = []
        targets: list[str | None] = []  # variant id of each write; None = the product itself
        if push.link is None:
            bodies = list(variants.values())
            writes.append(
                Write(
                    "mailchimp",
                    "product",
                    "add",
                    product.product_id,
                    lambda c: mc.create_product(c, store, body, bodies),
                )
            )
            targets.append("*")
        else:
            if data.get("product") != product_fp or force:
                writes.append(
                    Write(
                        "mailchimp",
                        "product",
                        "update",
                        product.product_id,
                        lambda c: mc.update_product(c, store, body),
                    )
                )
                targets.append(None)
            for vid, variant in variants.items():
                if held.get(vid) != fingerprint(variant) or force:
                    writes.append(
                        Write(
                            "mailchimp",
                            "variant",
                            "update",
                            f"{product.product_id}:{vid}",
                            _variant_patch(store, product.product_id, variant),
                            detail={
                                "price": variant["price"],
                                "inventory_quantity": variant["inventory_quantity"],
                            },
                        )
                    )
                    targets.append(vid)
        if not writes:
            return None

        def settle(plan: Plan, results: list[Any]) -> None:
            product_held: str | None = data.get("product")
            variants_held: dict[str, str] = dict(held)
            for target, result in zip(targets, results, strict=True):
                if failed(result):
                    continue
                if target == "*":
                    product_held = product_fp
                    variants_held = {vid: fingerprint(v) for vid, v in variants.items()}
                elif target is None:
                    product_held = product_fp
                else:
                    variants_held[target] = fingerprint(variants[target])
            if push.link is None and all(failed(r) for r in results):
                plan.save_link = False
            plan.data = {"product": product_held, "variants": variants_held}

        return Plan(
            writes=writes,
            settle=settle,
            external_id=f"{store}:{product.product_id}",
            fingerprint=product.fingerprint(),
        )

    def execute(self, ctx: TaskContext, writes: list[Write]) -> list[Any]:
        client = ctx.services.mailchimp
        if len(writes) == 1:
            return [_call(writes[0].call, client)]
        parallel = max(1, int(ctx.services.settings.mailchimp_connections))
        with ThreadPoolExecutor(min(parallel, len(writes)), "mailchimp-catalogue") as pool:
            return list(pool.map(lambda w: _call(w.call, client), writes))

    def link_more(self, connection: Any, push: Push, plan: Plan) -> None:
        """The order flow's product links (`ensure_products` skips a variant it finds linked, so
        it never overwrites the catalogue's product with an order line's stub)."""
        if push.link is not None or not plan.save_link:
            return
        store = push.ctx.services.settings.mailchimp_store_id
        product: Product = push.record["product"]
        wanted = [f"{product.product_id}:{variant.variant_id}" for variant in product.variants]
        have = set(
            connection.scalars(
                select(links.c.canonical_id).where(
                    links.c.entity == "product",
                    links.c.system == "mailchimp",
                    links.c.canonical_id.in_(wanted),
                )
            )
        )
        rows = [
            {"entity": "product", "canonical_id": key, "system": "mailchimp",
             "external_id": f"{store}:{key}", "updated_at": time.time()}
            for key in wanted
            if key not in have
        ]  # fmt: skip
        if rows:
            connection.execute(insert(links), rows)


def push_bitrix24(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.bitrix24.catalogue` {ids, force?}."""
    Bitrix24CatalogueExporter().run(ctx, payload)


def push_mailchimp(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.mailchimp.catalogue` {ids, force?}."""
    MailchimpCatalogueExporter().run(ctx, payload)


def sale_dates(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """`catalogue.sale_dates` (a job): products whose sale starts or ends around this bucket are
    pushed, so the copies show the price in force (an unchanged copy costs no write)."""
    from connector.store.tables import catalogue_variants as V

    seconds = float(payload.get("bucket_seconds") or 900)
    now = ctx.services.queue.clock()
    start = dt.datetime.fromtimestamp(now - 2 * seconds, dt.UTC)
    end = dt.datetime.fromtimestamp(now, dt.UTC)
    due: dict[str, str] = {}
    query = select(V.c.product_id, V.c.sale_from, V.c.sale_to).where(V.c.sale_price.is_not(None))
    with reading(ctx.services.engine) as connection:
        for row in connection.execute(query):
            for edge in (row.sale_from, row.sale_to):
                moment = _moment(edge)
                if moment is not None and start < moment <= end:
                    due[row.product_id] = edge
    if due:
        changed = [(pid, f"sale:{edge}") for pid, edge in sorted(due.items())]
        enqueue_pushes(ctx.services, changed, chunk=CHUNK)


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
