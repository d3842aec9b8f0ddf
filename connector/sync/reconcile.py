"""`connector reconcile`: does every system hold every order and customer of the shop, as the
shop says it?

An empty queue is not convergence: a webhook the shop never sent, a push that died, a deal a
manager deleted leave a system behind while the queue shows nothing to do. Reconciliation reads
the shop's orders over a period (and their buyers), then each target, and lists every
difference:

- `missing`: the target holds no record of the order (`customer missing`: of the buyer),
- `duplicated`: two records claim one order (a second deal with the same `ORIGIN_ID` or order
  number); the one the links table names is the order's, else the oldest,
- `amount differs`, `status differs`: statuses are compared through the mappings (the deal stage
  map, Mailchimp's financial status map, the shop's status map) in both directions, so a lossy
  map (`shipped` and `completed` are both `completed` in WooCommerce) is no difference.

The shop is WooCommerce when it is configured; orders born elsewhere (the generic contract, the
till) are known only to the hub, whose snapshot then stands for the shop. The hub itself is a
side too: a hub behind the shop is why pushes would send stale data.

Reading streams: every system is read page by page through its client's paging (WooCommerce
pages, Bitrix24 `>ID` pages chained in batches, Mailchimp `count`/`offset`, the store by cursor)
and each record is cut at once to a compact `Row` (key, own id, hundredths, status, number). The
shop's orders are held as such rows by key; a target's rows only while it is compared.

A target is a small `OrderSide` (or `CustomerSide`): its system name, `rows(period)`, which
orders it `expects`, and the `repair` of its differences. A new system adds one side to
`ORDER_SIDES` / `CUSTOMER_SIDES`.

Repairs (`--fix`) are the tasks the flows already run, so the flows do the work: the target's
push task (the fan-out's), the shop's re-read (the poll's) when the hub itself is behind, the
ledger's order events. A duplicate is never deleted: it is listed for a person.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from sqlalchemy import Connection, Engine, select, update

from connector import keys
from connector.errors import ConnectorError, MappingError
from connector.flows.orders import CHECKOUT_DRAFTS, PAID, order_events
from connector.identity import HUB, jsonable, lock_link, save_link
from connector.logs import mask
from connector.queue import BULK
from connector.store import reading
from connector.store.tables import identity_keys, links, loyalty_orders
from connector.sync.streams import TaskItem
from connector.sync.times import BadDate, iso, utc, wc_gmt

if TYPE_CHECKING:
    from connector.queue import Queue
    from connector.services import Services
    from connector.systems.registry import Registry
    from connector.systems.woocommerce.client import WooCommerceClient

MISSING = "missing"
DUPLICATED = "duplicated"
AMOUNT = "amount differs"
STATUS = "status differs"
CUSTOMER_MISSING = "customer missing"

CLOSED = ("cancelled", "returned")  # canonical statuses that undo an order's bonuses
READ_CHUNK = 1000  # rows fetched from the store at a time
KEY_CHUNK = 500  # keys per `IN (...)` lookup
STREAM_ABOVE = 5000  # more keys than this are looked up by one pass over the table
REREADS = ("woocommerce.order", "woocommerce.customer")  # the shop read fresh (webhook, poll)
CLOCK_SLACK = timedelta(days=1)  # a deal is made after its order, but clocks of systems differ


class UnknownSide(ConnectorError):
    """`--system` names a system reconciliation cannot compare (or one not configured)."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Period:
    """Orders created in [since, until); either end open when None."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, moment: Any) -> bool:
        """Whether `moment` is in the period; an unknown moment only in an unbounded one."""
        try:
            when = moment if isinstance(moment, datetime) else utc(str(moment))
        except BadDate:
            when = None
        if moment in (None, "") or when is None:
            return self.since is None and self.until is None
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )

    def describe(self) -> str:
        start = iso(self.since) if self.since else "the beginning"
        end = iso(self.until) if self.until else "now"
        return f"{start} .. {end}"


def cents(value: Any) -> int | None:
    """Money as integer hundredths (rounded half up); None when there is no number."""
    if value in (None, ""):
        return None
    if isinstance(value, str):  # "16", "16.5", "16.50": the common case, without Decimal
        whole, _, part = value.partition(".")
        if whole.isdigit() and len(part) <= 2 and (not part or part.isdigit()):
            return int(whole) * 100 + int(part.ljust(2, "0") or 0)
    try:
        return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return None


def money(hundredths: int | None) -> str | None:
    if hundredths is None:
        return None
    sign = "-" if hundredths < 0 else ""
    return f"{sign}{abs(hundredths) // 100}.{abs(hundredths) % 100:02d}"


class Row(NamedTuple):
    """What one system holds of one order, cut to what is compared."""

    key: str | None  # the canonical order id it belongs to; None when it names none itself
    ref: str  # its own id in that system (a deal's ID)
    amount: int | None = None  # hundredths
    status: str | None = None  # as that system says it (STAGE_ID, financial_status ...)
    number: str | None = None  # the shop's order number, when the record carries it


class ShopOrder(NamedTuple):
    """One order of the shop over the period: what every target is compared with (about 350
    bytes: strings repeated across orders, such as statuses, are shared)."""

    key: str  # canonical order id (`woocommerce-1001`, `shop-pos-R-1`)
    origin: str  # who says it: "woocommerce" (read from the shop) or "hub" (born elsewhere)
    amount: int | None
    status: str | None  # as `origin` says it
    own_number: str | None  # the shop's order number, when it is not its id
    paid: bool
    email: str | None  # lower-cased

    @property
    def ref(self) -> str:
        """Its id in the shop (canonical ids name their source: `identity.order_id_for`)."""
        return self.key.split("-", 1)[1] if self.origin == "woocommerce" else self.key

    @property
    def number(self) -> str:
        return self.own_number or self.ref


class Buyer(NamedTuple):
    """A customer of the shop over the period, known by email."""

    email: str  # lower-cased
    shop_id: str | None  # the shop's customer id (a registered customer)
    order: str | None  # an order of theirs in the period, to name them by


@dataclass(frozen=True)
class Difference:
    """One thing a system holds otherwise than the shop."""

    system: str
    entity: str  # order | customer
    kind: str  # missing | duplicated | amount differs | status differs | customer missing
    key: str  # the canonical order id, or the customer as `order <id>` / shop customer id
    ref: str | None = None  # the record in that system ("deal 17")
    expected: str | None = None  # what the shop says
    found: str | None = None  # what the system says
    note: str = ""  # what a person must do, when no task can repair it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        detail = ""
        if self.kind in (AMOUNT, STATUS):
            detail = f"shop {self.expected or '-'}, {self.system} {self.found or '-'}"
        elif self.found:
            detail = self.found
        parts = [self.system, self.entity, self.key, self.ref or "-", self.kind]
        text = "  ".join(parts) + (f": {detail}" if detail else "")
        return text + (f" ({self.note})" if self.note else "")


# --------------------------------------------------------------------------- mappings


class FieldView:
    """One canonical field of one system's mapping, translated value by value (memoized).

    `canonical("FINAL_INVOICE")` is `shipped`, `system("delivered")` is `FINAL_INVOICE`; the value
    maps are the mapping files' own, so an admin's edit of the stage map counts here too.
    """

    def __init__(self, mapping: Any, name: str) -> None:
        rules = [r for r in mapping.rules if r.canonical == name and isinstance(r.system, str)]
        inward = next((r for r in rules if r.apply_in is not None), None)
        self.system_field: str | None = inward.system if inward else None
        outward = [r for r in rules if r.apply_out is not None]
        out = next((r for r in outward if r.system == self.system_field), None)
        out = out or (outward[0] if outward else None)
        self.system_field = self.system_field or (out.system if out else None)
        self._in = _chain(inward.in_chain) if inward else None
        self._out = _chain(out.out_chain) if out else None
        self._to_canonical: dict[Any, Any] = {}
        self._to_system: dict[Any, Any] = {}

    def canonical(self, value: Any) -> Any:
        if self._in is None or value is None:
            return value
        if value not in self._to_canonical:
            self._to_canonical[value] = _translate(self._in, value)
        return self._to_canonical[value]

    def system(self, value: Any) -> Any:
        if self._out is None or value is None:
            return value
        if value not in self._to_system:
            self._to_system[value] = _translate(self._out, value)
        return self._to_system[value]

    def convert(self, value: Any) -> Any:
        """`canonical` without memory (amounts: each is new)."""
        return value if self._in is None or value is None else _translate(self._in, value)


class Same:
    """A view of values that are canonical already (the hub's)."""

    system_field = None

    def canonical(self, value: Any) -> Any:
        return value

    def system(self, value: Any) -> Any:
        return value


def _chain(chain: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    return chain or (lambda value: value)


def _translate(chain: Callable[[Any], Any], value: Any) -> Any:
    try:
        return chain(value)
    except (MappingError, ValueError, TypeError, ArithmeticError):
        return None  # an unmapped value agrees with nothing (it is listed as it is)


class Statuses:
    """Whether two systems' statuses say the same, through their maps both ways (memoized)."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, Any, int, Any], bool] = {}

    def agree(self, left: Any, a: Any, right: Any, b: Any) -> bool:
        key = (id(left), a, id(right), b)
        found = self._known.get(key)
        if found is None:
            ca, cb = left.canonical(a), right.canonical(b)
            found = (ca is not None and ca == cb) or (
                (cb is not None and left.system(cb) == a)
                or (ca is not None and right.system(ca) == b)
            )
            self._known[key] = found
        return found


# --------------------------------------------------------------------------- the shop


@dataclass
class Shop:
    """The shop's orders and buyers over the period, as compact rows."""

    orders: dict[str, ShopOrder] = field(default_factory=dict)
    buyers: dict[str, Buyer] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict)  # origin -> status view
    read: dict[str, int] = field(default_factory=dict)
    _numbers: dict[str, str | None] | None = None

    def status_view(self, order: ShopOrder) -> Any:
        return self.views[order.origin]

    def canonical_status(self, order: ShopOrder) -> Any:
        return self.views[order.origin].canonical(order.status)

    def by_number(self, number: str | None) -> str | None:
        """The order with this shop number (None when none, or when two share it)."""
        if not number:
            return None
        if self._numbers is None:
            self._numbers = {}
            for order in self.orders.values():
                if order.number:
                    taken = order.number in self._numbers
                    self._numbers[order.number] = None if taken else order.key
        return self._numbers.get(number)

    def add_buyer(self, email: str | None, shop_id: str | None, order: str | None) -> None:
        if not email or "@" not in email:
            return
        known = self.buyers.get(email)
        if known is None:
            self.buyers[email] = Buyer(email, shop_id, order)
        elif (shop_id and not known.shop_id) or (order and not known.order):
            self.buyers[email] = Buyer(email, known.shop_id or shop_id, known.order or order)


def read_shop(services: Services, period: Period) -> Shop:
    """The shop's orders (WooCommerce, else the hub) and buyers over the period."""
    mapping_set = services.mappings.current
    shop = Shop(views={"hub": Same()})
    woo = services.enabled("woocommerce")
    if woo:
        order_map = mapping_set.get("woocommerce", "order")
        shop.views["woocommerce"] = FieldView(order_map, "status")
        for order in woocommerce_orders(services.woocommerce, order_map, period):
            shop.orders[order.key] = order
            shop.add_buyer(order.email, None, order.key)
        shop.read["woocommerce orders"] = len(shop.orders)
        registered = 0
        for customer in woocommerce_customers(services.woocommerce, period):
            shop.add_buyer(customer.email, customer.shop_id, None)
            registered += 1
        shop.read["woocommerce customers"] = registered
    born_elsewhere = 0
    for row, created, paid, email, source in hub_snapshots(
        services.engine, not_born_in="woocommerce" if woo else None
    ):
        if woo and source == "woocommerce" or not period.holds(created):
            continue
        key = row.ref  # the hub's own id is the canonical id
        shop.orders[key] = ShopOrder(key, "hub", row.amount, row.status, row.number, paid, email)
        shop.add_buyer(email, None, key)
        born_elsewhere += 1
    shop.read["orders born elsewhere (hub)"] = born_elsewhere
    return shop


def woocommerce_orders(
    client: WooCommerceClient, mapping: Any, period: Period
) -> Iterator[ShopOrder]:
    """The shop's orders created in the period, by id, one page of 100 at a time."""
    total = FieldView(mapping, "total")
    filters: dict[str, Any] = {"orderby": "id", "order": "asc", "dates_are_gmt": "true"}
    filters["_fields"] = "id,number,status,total,date_paid_gmt,billing"
    if period.since is not None:
        filters["after"] = wc_gmt(period.since)
    if period.until is not None:
        filters["before"] = wc_gmt(period.until)
    last_id = 0
    for record in client.list_orders(**filters):
        order_id = int(record["id"])
        if order_id <= last_id or record.get("status") in CHECKOUT_DRAFTS:
            continue  # a page shifted by a deletion repeats rows; a checkout draft is no order
        last_id = order_id
        amount = total.convert(record.get("total"))
        email = str((record.get("billing") or {}).get("email") or "").strip().lower()
        number = _text(record.get("number"))
        yield ShopOrder(
            key=sys.intern(f"woocommerce-{order_id}"),
            origin="woocommerce",
            amount=cents(amount),
            status=_status(record.get("status")),
            own_number=None if number == str(order_id) else number,
            paid=bool(record.get("date_paid_gmt")),
            email=email or None,
        )


def woocommerce_customers(client: WooCommerceClient, period: Period) -> Iterator[Buyer]:
    """Registered customers created or changed in the period (`/customers` has no date filter:
    a scan by id)."""
    for record in client.list_customers():
        stamps = [record.get("date_created_gmt"), record.get("date_modified_gmt")]
        bounded = period.since is not None or period.until is not None
        if bounded and not any(stamp and period.holds(utc(stamp)) for stamp in stamps):
            continue
        email = str(record.get("email") or "").strip().lower()
        if email:
            yield Buyer(email, str(record["id"]), None)


SNAPSHOT_FIELDS = ("total", "status", "number", "email", "paid_at", "created_at")


def hub_snapshots(
    engine: Engine, born_in: str | None = None, not_born_in: str | None = None
) -> Iterator[tuple[Row, Any, bool, str | None, str | None]]:
    """Every order the hub holds: (row, created at, paid, email, source system), by cursor.

    Only the compared fields are taken out of each snapshot, by the database (JSON paths), not
    the whole snapshot with its lines. Canonical order ids name their source
    (`identity.order_id_for`): `born_in` / `not_born_in` keep the orders of one source or the
    others.
    """
    data = links.c.data
    # one column per snapshot field, by name (a fixed arity keeps the rows typed)
    total_, status_, number_, email_, paid_at_, created_ = (
        data[name].as_string() for name in SNAPSHOT_FIELDS
    )
    source_ = data[("custom", "source", "system")].as_string()
    query = (
        select(links.c.canonical_id, total_, status_, number_, email_, paid_at_, created_, source_)
        .where(links.c.entity == "order", links.c.system == HUB)
        .order_by(links.c.id)
        .execution_options(yield_per=READ_CHUNK)
    )
    if born_in is not None:
        query = query.where(links.c.canonical_id.startswith(f"{born_in}-", autoescape=True))
    if not_born_in is not None:
        query = query.where(~links.c.canonical_id.startswith(f"{not_born_in}-", autoescape=True))
    with reading(engine) as connection:
        for key, total, status, number, email, paid_at, created, source in connection.execute(
            query
        ):
            status, key = _status(status), sys.intern(key)
            row = Row(key, key, cents(total), status, _text(number))
            paid = status in PAID or bool(paid_at)
            email = str(email or "").strip().lower() or None
            yield row, created, paid, email, source or str(key).split("-", 1)[0]


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _status(value: Any) -> str | None:
    """A status as one shared string: a hundred thousand orders have a handful of statuses."""
    return None if value in (None, "") else sys.intern(str(value))


# --------------------------------------------------------------------------- repairs


def _known_systems() -> Registry:
    from connector.systems.registry import Registry

    return Registry.discover()


@dataclass
class Repairs:
    """The tasks `--fix` enqueues (and small link corrections made in the same transaction)."""

    clock: Callable[[], float] = time.time
    run: str = ""
    tasks: list[TaskItem] = field(default_factory=list)
    link_changes: list[Callable[[Connection], None]] = field(default_factory=list)
    forgotten: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    systems: Registry = field(default_factory=_known_systems)  # push kinds' ordering keys

    def __post_init__(self) -> None:
        self.run = self.run or str(int(self.clock() * 1000))

    def add(self, kind: str, payload: dict[str, Any], ordering_key: str | None) -> None:
        target = json.dumps(payload, sort_keys=True, default=str)
        if (kind, target) in self._seen:
            return
        self._seen.add((kind, target))
        digest = hashlib.sha256(target.encode()).hexdigest()[:24]
        self.tasks.append(
            TaskItem(kind, payload, keys.reconcile(self.run, kind, digest), ordering_key)
        )

    def forget_fingerprint(self, entity: str, system: str, canonical_id: str) -> None:
        """The link's fingerprint says the system holds what we wrote; it does not."""
        self.forgotten.setdefault((entity, system), []).append(canonical_id)

    def forget_sent(self, entity: str, system: str, canonical_id: str) -> None:
        """The link's `data` says the record holds what we last sent (the fields' and rows'
        fingerprints an exporter skips an unread push on); it does not, so the push must read
        the record again. The link's fingerprint stays: it is how the push tells a manager's
        move (the CRM keeps it) from a drift to overwrite."""
        self.link_changes.append(
            lambda connection: _forget_sent(connection, entity, canonical_id, system)
        )

    def push(self, kind: str, target_id: str, **payload: Any) -> None:
        """A push task as the fan-out queues it (`connector.flows.hub.push`)."""
        key = self.systems.push_key(kind, target_id)
        self.add(kind, {"id": target_id, **payload}, key)

    def enqueue(self, queue: Queue) -> list[int]:
        """Everything in one transaction, kind by kind, the shop's re-reads first: a re-read and
        the shop push of the same order share its ordering key, and the push must come after."""
        by_kind: dict[str, list[tuple[dict[str, Any], str | None, str | None]]] = {}
        for kind in REREADS:
            by_kind[kind] = []
        for task in self.tasks:
            by_kind.setdefault(task.kind, []).append(
                (task.payload, task.dedupe_key, task.ordering_key)
            )
        ids: list[int] = []
        with queue.engine.begin() as connection:
            for change in self.link_changes:
                change(connection)
            for (entity, system), ids_of in self.forgotten.items():
                for start in range(0, len(ids_of), KEY_CHUNK):
                    connection.execute(
                        update(links)
                        .where(
                            links.c.entity == entity,
                            links.c.system == system,
                            links.c.canonical_id.in_(ids_of[start : start + KEY_CHUNK]),
                        )
                        .values(fingerprint=None)
                    )
            for kind, items in by_kind.items():
                for start in range(0, len(items), READ_CHUNK):
                    batch = items[start : start + READ_CHUNK]
                    ids.extend(
                        queue.enqueue_many(kind, batch, connection=connection, priority=BULK)
                    )
        return ids

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for task in self.tasks:
            found[task.kind] = found.get(task.kind, 0) + 1
        return found


UNSENT: dict[str, Any] = {"sent": None, "rows": None}  # what a link's data says we last sent


def _forget_sent(connection: Connection, entity: str, canonical_id: str, system: str) -> None:
    link = lock_link(connection, entity, canonical_id, system)
    forgotten = {k: None for k in UNSENT if link is not None and link.data.get(k) is not None}
    if link is not None and forgotten:
        save_link(connection, entity, canonical_id, system, link.external_id, data=forgotten)


def shop_reread(repairs: Repairs, order: ShopOrder) -> None:
    """The task a webhook or poll enqueues for a shop order: read it fresh, apply it to the hub,
    fan it out (`woocommerce.order`, as `connector.sync.woocommerce.record_task` makes it)."""
    if order.origin == "woocommerce":
        repairs.add(
            "woocommerce.order",
            {"id": int(order.ref), "via": "reconcile"},
            keys.record("order", "woocommerce", order.ref),
        )


# --------------------------------------------------------------------------- order sides


@dataclass
class Claims:
    """A side's rows by order key: the first claim, and any more (duplicates)."""

    first: dict[str, Row] = field(default_factory=dict)
    more: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, key: str, row: Row) -> None:
        if key in self.first:
            self.more.setdefault(key, []).append(row)
        else:
            self.first[key] = row


class OrderSide:
    """A target that holds orders. Subclasses read their system in `rows` and may refine what
    they expect, how they compare and how they repair."""

    system: ClassVar[str]
    record: ClassVar[str] = "order"  # how its records are named in the report
    linked: ClassVar[bool] = False  # records are tied to orders in the links table by their id

    def __init__(self, services: Services) -> None:
        self.services = services
        self.view: Any = Same()

    @classmethod
    def enabled(cls, services: Services) -> bool:
        return services.enabled(cls.system)

    def rows(self, period: Period) -> Iterator[Row]:
        raise NotImplementedError

    def expects(self, order: ShopOrder, shop: Shop) -> bool:
        return True

    def compare(
        self, order: ShopOrder, row: Row, shop: Shop, statuses: Statuses
    ) -> Iterator[tuple[str, str | None, str | None]]:
        """(kind, what the shop says, what this side says) for each way the row differs."""
        if row.amount != order.amount:
            yield AMOUNT, money(order.amount), money(row.amount)
        if not statuses.agree(shop.status_view(order), order.status, self.view, row.status):
            yield STATUS, order.status, row.status

    def repair(self, repairs: Repairs, order: ShopOrder, found: list[Difference]) -> None:
        raise NotImplementedError

    def name(self, row: Row) -> str:
        return f"{self.record} {row.ref}"


class HubOrders(OrderSide):
    """The connector's own snapshot of each order: behind the shop, every push sends stale data."""

    system = "hub"
    record = "snapshot"

    @classmethod
    def enabled(cls, services: Services) -> bool:
        return services.enabled("woocommerce")  # otherwise the hub is the shop itself

    def rows(self, period: Period) -> Iterator[Row]:
        for row, _created, _paid, _email, _source in hub_snapshots(
            self.services.engine, born_in="woocommerce"
        ):
            yield row

    def expects(self, order: ShopOrder, shop: Shop) -> bool:
        return order.origin != "hub"

    def repair(self, repairs: Repairs, order: ShopOrder, found: list[Difference]) -> None:
        shop_reread(repairs, order)  # the shop changed and the hub missed it: read it again
        if order.origin == "woocommerce" and not any(d.kind == MISSING for d in found):
            # ... or the hub changed (a stage move in the CRM) and the shop missed it: the
            # same ordering key runs the re-read first, then this compares and writes
            repairs.push("push.woocommerce.order", order.ref, oid=order.key)

    def name(self, row: Row) -> str:
        return "hub"


class Bitrix24Deals(OrderSide):
    """Deals, tied to orders by `ORIGIN_ID` (the canonical id, written on create), else by the
    links table, else by the order-number field."""

    system = "bitrix24"
    record = "deal"
    linked = True

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        deal = services.mappings.current.get("bitrix24", "deal")
        self.view = FieldView(deal, "status")
        self.total = FieldView(deal, "total")
        self.number_field = FieldView(deal, "number").system_field
        self.origin_field = next(
            (
                r.system
                for r in deal.rules
                if r.canonical == "id" and r.apply_out is not None and isinstance(r.system, str)
            ),
            "ORIGIN_ID",
        )
        self.pages_per_call = 50  # one batch reads 2,500 deals (the docs' bulk export)

    def rows(self, period: Period) -> Iterator[Row]:
        condition = {">=DATE_CREATE": iso(period.since - CLOCK_SLACK)} if period.since else {}
        wanted = [self.origin_field, self.number_field, self.view.system_field]
        wanted.append(self.total.system_field)
        select_fields = [name for name in wanted if name]
        for deal in self.services.bitrix24.list_all(
            "crm.deal.list", condition, select_fields, pages_per_call=self.pages_per_call
        ):
            yield Row(
                key=_text(deal.get(self.origin_field)),
                ref=str(deal["ID"]),
                amount=cents(self.total.convert(deal.get(self.total.system_field or ""))),
                status=_status(deal.get(self.view.system_field or "")),
                number=_text(deal.get(self.number_field)) if self.number_field else None,
            )

    def repair(self, repairs: Repairs, order: ShopOrder, found: list[Difference]) -> None:
        if any(d.kind != DUPLICATED for d in found):
            # the push reads the deal fresh: a missing one is made again, a field the shop owns
            # is written, and a stage the manager moved is taken into the hub (CRM wins)
            repairs.forget_sent("order", self.system, order.key)
            repairs.push("push.bitrix24.deal", order.key)


class MailchimpOrders(OrderSide):
    """E-commerce orders of the store; their id is the canonical order id."""

    system = "mailchimp"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        order_map = services.mappings.current.get("mailchimp", "order")
        self.view = FieldView(order_map, "status")
        self.total = FieldView(order_map, "total")

    def rows(self, period: Period) -> Iterator[Row]:
        client, store = self.services.mailchimp, self.services.settings.mailchimp_store_id
        fields = ["id", self.total.system_field or "order_total", self.view.system_field]
        for order in client.list_orders(store, fields=[f for f in fields if f]):
            yield Row(
                key=str(order["id"]),
                ref=str(order["id"]),
                amount=cents(self.total.convert(order.get(self.total.system_field or ""))),
                status=_status(order.get(self.view.system_field or "")),
            )

    def expects(self, order: ShopOrder, shop: Shop) -> bool:
        return bool(order.email)  # the flow sends no order it cannot address

    def repair(self, repairs: Repairs, order: ShopOrder, found: list[Difference]) -> None:
        # the link vouches for a body Mailchimp no longer holds: the push must write it again
        repairs.forget_fingerprint("order", self.system, order.key)
        repairs.push("push.mailchimp.order", order.key)

    def name(self, row: Row) -> str:
        return f"order {row.ref}"


class LoyaltyLedger(OrderSide):
    """The bonus ledger's record of each order (`loyalty_orders`): a paid order has accrued on
    its total, a cancelled or returned one has given its bonuses back."""

    system = "loyalty"
    record = "ledger order"

    @classmethod
    def enabled(cls, services: Services) -> bool:
        return "loyalty.order_event" in services.registry

    def rows(self, period: Period) -> Iterator[Row]:
        o = loyalty_orders.c
        query = select(o.order_id, o.total, o.paid_version, o.closed).execution_options(
            yield_per=READ_CHUNK
        )
        with reading(self.services.engine) as connection:
            for order_id, total, paid_version, closed in connection.execute(query):
                status = _status(closed or ("paid" if paid_version is not None else "open"))
                yield Row(order_id, order_id, int(total or 0), status)

    def _wanted(self, order: ShopOrder, shop: Shop) -> str | None:
        status = shop.canonical_status(order)
        if status in CLOSED:
            return "closed"
        if status in PAID or (order.paid and status not in ("refunded", "failed")):
            return "paid"
        return None

    def expects(self, order: ShopOrder, shop: Shop) -> bool:
        return self._wanted(order, shop) == "paid"

    def compare(
        self, order: ShopOrder, row: Row, shop: Shop, statuses: Statuses
    ) -> Iterator[tuple[str, str | None, str | None]]:
        wanted = self._wanted(order, shop)
        if wanted == "closed" and row.status == "paid":
            yield STATUS, shop.canonical_status(order), "paid (bonuses still accrued)"
        elif wanted == "paid":
            if row.status != "paid":
                yield STATUS, shop.canonical_status(order), row.status
            elif row.amount != order.amount:
                yield AMOUNT, money(order.amount), money(row.amount)

    def repair(self, repairs: Repairs, order: ShopOrder, found: list[Difference]) -> None:
        """The order events the flow reports for the hub's snapshot, as if it were new: the
        ledger merges facts, so what it already knows posts nothing twice."""
        from connector.flows.hub import load_snapshot

        engine = self.services.engine
        snapshot = load_snapshot(engine, "order", order.key)
        if snapshot is None or not snapshot.get("customer_id"):
            shop_reread(repairs, order)
            return
        buyer = load_snapshot(engine, "customer", snapshot["customer_id"]) or {}
        version = jsonable(snapshot.get("updated_at")) or "reconcile"
        for event in order_events(None, snapshot):
            detail = {
                "kind": event["event"],
                "total": str(snapshot.get("total") or 0),
                "bonus_spent": str((snapshot.get("custom") or {}).get("bonus_spent") or 0),
                "amount": event.get("amount"),
                "version": version,
                "at": repairs.clock(),
            }
            payload = {
                "customer_id": snapshot["customer_id"],
                "order_id": order.key,
                "event": detail,
                "card": buyer.get("loyalty_card"),
                **{k: v for k, v in detail.items() if k != "at"},
            }
            repairs.add(
                "loyalty.order_event", payload, keys.loyalty_customer(snapshot["customer_id"])
            )

    def name(self, row: Row) -> str:
        return "ledger"


ORDER_SIDES: tuple[type[OrderSide], ...] = (
    HubOrders,
    Bitrix24Deals,
    MailchimpOrders,
    LoyaltyLedger,
)


def lookup(
    engine: Engine, key: Any, value: Any, where: Any, wanted: Collection[str]
) -> dict[str, str]:
    """`key -> value` of the rows matching `where` whose key is in `wanted`: by `IN` lists for a
    few keys, else by one pass over the rows (one query instead of hundreds)."""
    found: dict[str, str] = {}
    with reading(engine) as connection:
        if len(wanted) <= STREAM_ABOVE:
            keys = list(wanted)
            for start in range(0, len(keys), KEY_CHUNK):
                chunk = keys[start : start + KEY_CHUNK]
                rows = connection.execute(select(key, value).where(where, key.in_(chunk)))
                found.update({sys.intern(str(k)): str(v) for k, v in rows})
            return found
        query = select(key, value).where(where).execution_options(yield_per=READ_CHUNK)
        for k, v in connection.execute(query):
            if k in wanted:
                found[sys.intern(str(k))] = str(v)
    return found


def linked_ids(engine: Engine, entity: str, system: str, ids: Collection[str]) -> dict[str, str]:
    """The links table's record in `system` of each canonical id of `ids` (id -> own id)."""
    where = (links.c.entity == entity) & (links.c.system == system)
    return lookup(engine, links.c.canonical_id, links.c.external_id, where, ids)


def _by_id(ref: str) -> tuple[int, str]:
    return (int(ref), ref) if ref.isdigit() else (1 << 62, ref)


def compare_orders(
    side: OrderSide, shop: Shop, period: Period, statuses: Statuses, repairs: Repairs | None
) -> tuple[list[Difference], int]:
    """Every difference between the shop's orders and one side; (differences, rows read)."""
    linked = (
        linked_ids(side.services.engine, "order", side.system, shop.orders) if side.linked else {}
    )
    owner: dict[str, str] = {}
    claims = Claims()
    read = 0
    for row in side.rows(period):
        read += 1
        key = row.key if row.key in shop.orders else None
        if key is None and linked and not owner:
            owner = {ref: key for key, ref in linked.items()}
        if key is None and row.key:  # it names an order outside the period: not ours to see
            key = owner.get(row.ref)
        elif key is None:  # a record made by hand: the links table, else the shop's number
            key = owner.get(row.ref) or shop.by_number(row.number)
        if key is not None:  # kept compact: the shop's key, no number
            claims.add(key, row._replace(key=shop.orders[key].key, number=None))
    found: list[Difference] = []
    to_repair: list[tuple[ShopOrder, list[Difference]]] = []
    for key, order in shop.orders.items():
        first = claims.first.get(key)
        rows = [first, *claims.more.get(key, [])] if first is not None else []
        mine: list[Difference] = []
        if not rows:
            if side.expects(order, shop):
                mine.append(Difference(side.system, "order", MISSING, key))
        else:
            ours = linked.get(key)
            primary = next((r for r in rows if r.ref == ours), None)
            if primary is None:
                primary = min(rows, key=lambda r: _by_id(r.ref))
                if ours is not None and side.linked:
                    mine.append(_relink(side, key, ours, primary, repairs))
            for extra in rows:
                if extra is not primary:
                    mine.append(
                        Difference(
                            side.system, "order", DUPLICATED, key, side.name(extra),
                            found=f"{side.name(primary)} is the order's",
                            note=f"a person merges or deletes {side.name(extra)}",
                        )
                    )  # fmt: skip
            for kind, expected, seen in side.compare(order, primary, shop, statuses):
                mine.append(
                    Difference(side.system, "order", kind, key, side.name(primary), expected, seen)
                )
        if mine and repairs is not None:
            to_repair.append((order, mine))
        found.extend(mine)
    if to_repair and repairs is not None:
        in_hub = linked_ids(side.services.engine, "order", HUB, {o.key for o, _ in to_repair})
        for order, mine in to_repair:
            if side.system == HUB or order.key in in_hub:
                side.repair(repairs, order, mine)
            else:  # the hub never had it: reading it from the shop fans it out everywhere
                shop_reread(repairs, order)
    return found, read


def _relink(
    side: OrderSide, key: str, gone: str, survivor: Row, repairs: Repairs | None
) -> Difference:
    """The linked record is gone but another claims the order: the link moves to it (the push
    would otherwise make a third)."""
    if repairs is not None:

        def move(connection: Connection) -> None:
            save_link(
                connection,
                "order",
                key,
                side.system,
                survivor.ref,
                fingerprint=None,
                data=UNSENT,  # the survivor holds nothing we sent: the push reads and writes it
            )

        repairs.link_changes.append(move)
    return Difference(
        side.system,
        "order",
        MISSING,
        key,
        f"{side.record} {gone}",
        found=f"{side.name(survivor)} names the order instead",
    )


# --------------------------------------------------------------------------- customer sides


class CustomerSide:
    """A target that holds people: every canonical customer of the period's buyers should have
    a record there, the one its link names."""

    system: ClassVar[str]
    push_kind: ClassVar[str]

    def __init__(self, services: Services) -> None:
        self.services = services

    @classmethod
    def enabled(cls, services: Services) -> bool:
        return services.enabled(cls.system)

    def refs(self) -> Iterator[str]:
        """The own id of every record the system holds (as the links table writes it)."""
        raise NotImplementedError


class Bitrix24Contacts(CustomerSide):
    system = "bitrix24"
    push_kind = "push.bitrix24.contact"

    def refs(self) -> Iterator[str]:
        for contact in self.services.bitrix24.list_all(
            "crm.contact.list", None, ["ID"], pages_per_call=50
        ):
            yield str(contact["ID"])


class MailchimpMembers(CustomerSide):
    """Audience members, whose id in the links table is their email."""

    system = "mailchimp"
    push_kind = "push.mailchimp.member"

    def refs(self) -> Iterator[str]:
        client, audience = self.services.mailchimp, self.services.settings.mailchimp_audience
        for status in (None, "archived"):  # an archived member is the person's choice, not a gap
            for member in client.list_members(audience, ["email_address"], status=status):
                yield str(member.get("email_address") or "").strip().lower()


CUSTOMER_SIDES: tuple[type[CustomerSide], ...] = (Bitrix24Contacts, MailchimpMembers)


@dataclass
class People:
    """The period's buyers as the hub's customers (one person may buy with two emails)."""

    customers: dict[str, Buyer] = field(default_factory=dict)  # canonical id -> a buyer
    strangers: list[Buyer] = field(default_factory=list)  # buyers the hub knows nothing of


def resolve_people(engine: Engine, shop: Shop) -> People:
    """The hub's customer of each buyer, found by email as the flows found it (identity keys)."""
    people = People()
    known = lookup(
        engine,
        identity_keys.c.value,
        identity_keys.c.canonical_id,
        identity_keys.c.kind == "email",
        shop.buyers,
    )
    for email in sorted(shop.buyers):
        cid = known.get(email)
        if cid is None:
            people.strangers.append(shop.buyers[email])
        else:
            people.customers.setdefault(cid, shop.buyers[email])
    return people


def compare_customers(
    side: CustomerSide, shop: Shop, people: People, repairs: Repairs | None
) -> tuple[list[Difference], int]:
    """The period's customers the side holds no record of; (differences, records read)."""
    tied = linked_ids(side.services.engine, "customer", side.system, people.customers)
    waiting = {ref.strip().lower(): cid for cid, ref in tied.items()}
    read = 0
    for ref in side.refs():
        read += 1
        waiting.pop(ref.strip().lower(), None)
    gone = set(waiting.values())
    found = []
    for cid, buyer in people.customers.items():
        if cid in tied and cid not in gone:
            continue
        where = f"{side.system} record {tied[cid]} is gone" if cid in tied else "never sent"
        found.append(_customer_missing(side, buyer, f"hub customer {cid}, {where}"))
        if repairs is not None:
            if cid in tied:  # the push must not trust the link's word that it holds our last send
                repairs.forget_sent("customer", side.system, cid)
            repairs.push(side.push_kind, cid)
    for buyer in people.strangers:
        found.append(_customer_missing(side, buyer, "not in the hub"))
        if repairs is None:
            continue
        if buyer.shop_id and side.services.enabled("woocommerce"):
            repairs.add(
                "woocommerce.customer",
                {"id": int(buyer.shop_id), "via": "reconcile"},
                keys.record("customer", "woocommerce", buyer.shop_id),
            )
        elif buyer.order in shop.orders:
            shop_reread(repairs, shop.orders[buyer.order])
    return found, read


def _customer_missing(side: CustomerSide, buyer: Buyer, why: str) -> Difference:
    name = f"order {buyer.order}" if buyer.order else f"shop customer {buyer.shop_id}"
    return Difference(
        side.system,
        "customer",
        CUSTOMER_MISSING,
        f"buyer of {name}",
        found=f"{mask(buyer.email)}: {why}",
    )


# --------------------------------------------------------------------------- the run


@dataclass
class Report:
    """What a reconciliation found (and, with `fix`, what it enqueued)."""

    period: Period
    systems: list[str]
    read: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    repairs: Repairs | None = None
    enqueued: int = 0
    seconds: float = 0.0
    unfinished_tasks: int = 0

    @property
    def for_a_person(self) -> list[Difference]:
        return [d for d in self.differences if d.note]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for difference in self.differences:
            found[difference.system] = found.get(difference.system, 0) + 1
        return found

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "period": {
                "since": iso(self.period.since) if self.period.since else None,
                "until": iso(self.period.until) if self.period.until else None,
            },
            "systems": self.systems,
            "read": self.read,
            "differences": [d.as_dict() for d in self.differences],
            "counts": self.counts(),
            "unfinished_tasks": self.unfinished_tasks,
            "seconds": round(self.seconds, 3),
        }
        if self.repairs is not None:
            data["repairs"] = [{"kind": t.kind, "payload": t.payload} for t in self.repairs.tasks]
            data["enqueued"] = self.enqueued
        return data


def known_systems() -> list[str]:
    names = [side.system for side in ORDER_SIDES] + [side.system for side in CUSTOMER_SIDES]
    return list(dict.fromkeys(names))


def chosen_systems(services: Services, only: str | None) -> list[str]:
    """The systems to compare: `only`, or every configured one."""
    known = known_systems()
    every: tuple[type[OrderSide] | type[CustomerSide], ...] = (*ORDER_SIDES, *CUSTOMER_SIDES)
    if only is not None:
        if only not in known:
            raise UnknownSide(f"--system: unknown system {only!r} (known: {', '.join(known)})")
        sides = [s for s in every if s.system == only]
        if not any(side.enabled(services) for side in sides):
            hint = (
                "the hub is the shop when WooCommerce is not configured"
                if only == "hub"
                else f"see CONNECTOR_{only.upper()}_*"
            )
            raise UnknownSide(f"--system: {only} is not configured ({hint})")
        return [only]
    return [name for name in known if any(s.enabled(services) for s in every if s.system == name)]


def reconcile(
    services: Services,
    period: Period | None = None,
    only: str | None = None,
    fix: bool = False,
    shop: Shop | None = None,
) -> Report:
    """Compares the shop with each chosen system; with `fix`, enqueues the repairs."""
    started = time.perf_counter()
    period = period or Period()
    systems = chosen_systems(services, only)
    clock = services.queue.clock
    repairs = Repairs(clock, systems=services.systems) if fix else None
    report = Report(period, systems, repairs=repairs)
    shop = shop if shop is not None else read_shop(services, period)
    report.read.update(shop.read)
    statuses = Statuses()
    for side_class in ORDER_SIDES:
        if side_class.system in systems and side_class.enabled(services):
            side = side_class(services)
            found, read = compare_orders(side, shop, period, statuses, report.repairs)
            report.read[f"{side.system} {side.record}s"] = read
            report.differences.extend(found)
    people: People | None = None
    for customer_class in CUSTOMER_SIDES:
        if customer_class.system in systems and customer_class.enabled(services):
            customers = customer_class(services)
            people = people or resolve_people(services.engine, shop)
            found, read = compare_customers(customers, shop, people, report.repairs)
            report.read[f"{customers.system} customers"] = read
            report.differences.extend(found)
    if report.repairs is not None and report.repairs.tasks:
        report.enqueued = len(report.repairs.enqueue(services.queue))
    stats = services.queue.stats()
    report.unfinished_tasks = stats.queued + stats.waiting + stats.running
    report.seconds = time.perf_counter() - started
    return report
