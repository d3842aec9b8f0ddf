"""The Kaspi.kz price list: the `kaspi_catalog` XML that Kaspi's automatic upload fetches from a
URL (research/kaspi.md, "Prices / stock"; docs/catalogue.md, "The Kaspi price list").

One `<offer sku=...>` per catalogue variant with a SKU: `model` (the name), `brand` when the
catalogue knows one, `availabilities` with one `availability` per Kaspi store (`storeId`,
`available="yes|no"`, `stockCount` where stock is tracked) and `price` (whole tenge, the sale
price inside its dates). The stores come from the value map `kaspi_store`
(`mappings/kaspi/store.yaml`: catalogue warehouse -> Kaspi store id); the stock of the warehouses
of one store is summed. A product deleted, drafted or out of stock stays in the list with
`available="no"` everywhere, so Kaspi hides it instead of keeping a stale offer.

The document is written as a stream of chunks from the catalogue's pages (`Feed.chunks`), so
memory stays flat in the catalogue's size; `Feed.etag` names the catalogue's state (its last
change, its size, which sale prices are in force, and what the feed's own settings are), so a
fetch of an unchanged catalogue is answered 304 without reading it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import Engine, func, select

from connector.errors import MappingError
from connector.store import reading

log = logging.getLogger("connector.kaspi.feed")

NAMESPACE = "kaspiShopping"
STORE_MAP = "kaspi_store"  # mappings/kaspi/store.yaml
DEFAULT_WAREHOUSE = "default"  # a master without warehouses keeps its stock here
SKU = re.compile(r"[A-Za-z0-9]{1,20}")  # Kaspi: at most 20 latin letters and digits, unique
MODEL_LENGTH = 500
CHUNK_OFFERS = 200  # offers per chunk written to the socket
# Characters XML 1.0 forbids even escaped (control characters a product name may carry).
_QUOTE = {'"': "&quot;"}  # escaped in an attribute value besides & < >
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class FeedVariant(Protocol):
    """What the feed reads of a catalogue variant (connector.catalogue.Variant)."""

    @property
    def sku(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def stock(self) -> int | None: ...
    @property
    def stock_by_warehouse(self) -> dict[str, int]: ...

    def price_at(self, now: dt.datetime) -> str | None: ...
    def available(self, product_status: str = "active") -> bool: ...


class FeedProduct(Protocol):
    """What the feed reads of a catalogue product (connector.catalogue.Product)."""

    @property
    def product_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def variants(self) -> tuple[FeedVariant, ...]: ...


class Catalogue(Protocol):
    """The feed's source: products in pages, and a cheap name of the catalogue's state."""

    def products(self) -> Iterable[FeedProduct]: ...
    def version(self, now: dt.datetime) -> Version: ...
    def repeated_skus(self) -> set[str]: ...


@dataclass(frozen=True)
class Version:
    """The catalogue's state as the feed sees it at one moment, read without the products."""

    tag: str  # changes whenever the document would
    modified: float | None  # unix time of the last change (a write, or a sale starting/ending)


@dataclass(frozen=True)
class StoreMap:
    """Catalogue warehouse -> Kaspi store id, from the value map `kaspi_store`."""

    table: Mapping[str, str]
    fallback: str | None = None  # the store of a warehouse not in `table` (None: off Kaspi)

    @classmethod
    def of(cls, value_map: Any) -> StoreMap:
        """From a `connector.mapping.ValueMap`: its `out` pairs and its `unmapped.out` rule
        (`{use: PP1}`: that store; `error`: such a warehouse is not on Kaspi)."""
        table = {str(k): str(v) for k, v in value_map.to_system_table.items() if v is not None}
        rule = value_map.unmapped_out
        fallback = str(rule.value) if rule.action == "use" and rule.value is not None else None
        return cls(table, fallback)

    @property
    def stores(self) -> list[str]:
        """Every Kaspi store an offer lists, in a stable order."""
        named = set(self.table.values()) | ({self.fallback} if self.fallback else set())
        return sorted(named)

    def store_of(self, warehouse: str) -> str | None:
        return self.table.get(warehouse, self.fallback)

    def fingerprint(self) -> str:
        return repr((sorted(self.table.items()), self.fallback))


@dataclass(frozen=True)
class Offer:
    """One `<offer>`: what the XML says of one variant."""

    sku: str
    model: str
    brand: str | None
    price: int
    availability: tuple[tuple[str, bool, int | None], ...]  # (storeId, available, stockCount)


def whole_tenge(price: str | None) -> int | None:
    """A decimal price as whole tenge (Kaspi takes integers, VAT included), half up."""
    if price is None:
        return None
    try:
        return int(Decimal(price).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return None


def offers_of(product: FeedProduct, stores: StoreMap, now: dt.datetime) -> Iterator[Offer]:
    """The offers of a product's variants; a variant without a usable SKU or price is skipped
    (logged by `Feed`), one that cannot be sold is listed with `available="no"` everywhere."""
    for variant in product.variants:
        sku, price = (variant.sku or "").strip(), whole_tenge(variant.price_at(now))
        if not SKU.fullmatch(sku) or price is None:
            continue
        sellable = variant.available(product.status)
        untracked = variant.stock is None and not variant.stock_by_warehouse
        counts: dict[str, int | None] = dict.fromkeys(stores.stores, None if untracked else 0)
        by_warehouse: Mapping[str, int | None] = variant.stock_by_warehouse or {
            DEFAULT_WAREHOUSE: variant.stock
        }
        for warehouse, quantity in () if untracked else by_warehouse.items():
            store = stores.store_of(str(warehouse))
            if store is None:
                continue
            known = counts.get(store, 0)
            counts[store] = None if quantity is None or known is None else known + max(quantity, 0)
        availability = tuple(
            (store, sellable and (count is None or count > 0), count)
            for store, count in counts.items()
        )
        model = _text(variant.name or product.name)[:MODEL_LENGTH]
        yield Offer(sku, model, getattr(product, "brand", None), price, availability)


def offer_xml(offer: Offer) -> str:
    """One `<offer>` element, its children in the documented order (a SKU is letters and
    digits, so it needs no escaping)."""
    parts = [f'<offer sku="{offer.sku}"><model>{escape(offer.model)}</model>']
    if offer.brand:
        parts.append(f"<brand>{escape(_text(offer.brand))}</brand>")
    parts.append("<availabilities>")
    for store, available, count in offer.availability:
        stock = "" if count is None else f' stockCount="{max(count, 0) if available else 0}"'
        flag = "yes" if available else "no"
        store_id = escape(_text(store), _QUOTE)
        parts.append(f'<availability available="{flag}" storeId="{store_id}"{stock}/>')
    parts.append(f"</availabilities><price>{offer.price}</price></offer>\n")
    return "".join(parts)


def _text(value: str) -> str:
    return _NOT_XML.sub("", value).strip()


@dataclass
class Feed:
    """The price list of one catalogue at one moment: its ETag, and its XML in chunks."""

    catalogue: Catalogue
    stores: StoreMap
    merchant_id: str
    company: str
    now: dt.datetime
    skipped: int = 0

    @cached_property
    def version(self) -> Version:
        return self.catalogue.version(self.now)

    @property
    def etag(self) -> str:
        """A strong ETag of the document this feed writes (without reading the catalogue)."""
        parts = (
            self.version.tag,
            self.stores.fingerprint(),
            self.merchant_id,
            self.company,
        )
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]

    def chunks(self) -> Iterator[bytes]:
        """The document, a few hundred offers a chunk (memory flat in the catalogue's size)."""
        yield (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f"<kaspi_catalog date={quoteattr(self.now.strftime('%Y-%m-%d %H:%M'))} "
            f'xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="{NAMESPACE} http://kaspi.kz/kaspishopping.xsd">\n'
            f"<company>{escape(_text(self.company))}</company>\n"
            f"<merchantid>{escape(_text(self.merchant_id))}</merchantid>\n<offers>\n"
        ).encode()
        batch: list[str] = []
        repeated = self.catalogue.repeated_skus()  # usually none: memory stays flat
        seen: set[str] = set()
        currencies: set[str] = set()
        for product in self.catalogue.products():
            currencies.update(getattr(v, "currency", "KZT") for v in product.variants)
            listed = 0
            for offer in offers_of(product, self.stores, self.now):
                listed += 1
                if offer.sku in repeated:  # Kaspi wants each SKU once: the first product keeps it
                    if offer.sku in seen:
                        self._skip(product, f"SKU {offer.sku} repeats an earlier product's")
                        continue
                    seen.add(offer.sku)
                batch.append(offer_xml(offer))
            if listed < len(product.variants):
                self._skip(
                    product,
                    "a variant without a Kaspi SKU or a price",
                    len(product.variants) - listed,
                )
            if len(batch) >= CHUNK_OFFERS:
                yield "".join(batch).encode()
                batch = []
        batch.append("</offers>\n</kaspi_catalog>\n")
        yield "".join(batch).encode()
        if currencies - {"KZT"}:
            log.warning(
                "Kaspi price list: prices in %s are listed as tenge; if they are tenge, set "
                "`currency: KZT` in mappings/catalogue.yaml",
                ", ".join(sorted(currencies - {"KZT"})),
            )
        if self.skipped:
            log.warning(
                "Kaspi price list: %s variant(s) left out (see the warnings above)", self.skipped
            )

    def _skip(self, product: FeedProduct, why: str, variants: int = 1) -> None:
        self.skipped += variants
        if self.skipped <= 20:  # enough to act on, without flooding the log of a big catalogue
            log.warning(
                "Kaspi price list: product %s left out: %s (SKU: up to 20 latin letters "
                "and digits)",
                product.product_id,
                why,
            )


class StoreCatalogue:
    """The canonical catalogue in the store (connector.catalogue) as the feed's source."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def products(self) -> Iterable[FeedProduct]:
        from connector.catalogue import products

        return products(self.engine)

    def version(self, now: dt.datetime) -> Version:
        """Every product's fingerprint, and which sale prices are in force at `now` (a sale that
        starts changes the list though nothing was written); Last-Modified from the latest
        write or sale boundary. Reads two narrow columns, never a product."""
        from connector.store.tables import catalogue_products as P
        from connector.store.tables import catalogue_variants as V

        on_sale, latest = hashlib.sha256(), None
        with reading(self.engine) as connection:
            last = connection.execute(select(func.max(P.c.updated_at))).scalar()
            prints = hashlib.sha256()  # every product's fingerprint: a change under any clock
            for (fingerprint,) in connection.execute(
                select(P.c.fingerprint).order_by(P.c.product_id)
            ):
                prints.update(fingerprint.encode())
            rows = connection.execute(
                select(V.c.product_id, V.c.variant_id, V.c.sale_from, V.c.sale_to)
                .where(V.c.sale_price.is_not(None))
                .order_by(V.c.product_id, V.c.variant_id)
            )
            for row in rows:
                begins, ends = _moment(row.sale_from), _moment(row.sale_to)
                if (begins is None or begins <= now) and (ends is None or now < ends):
                    on_sale.update(f"{row.product_id}/{row.variant_id};".encode())
                passed = [m.timestamp() for m in (begins, ends) if m is not None and m <= now]
                latest = max([latest or 0.0, *passed]) if passed else latest
        modified = max(float(last), latest or 0.0) if last is not None else latest
        return Version(f"{prints.hexdigest()}:{on_sale.hexdigest()}", modified)

    def repeated_skus(self) -> set[str]:
        """The SKUs more than one variant carries (a master's mistake; usually none)."""
        from connector.store.tables import catalogue_variants as V

        query = select(V.c.sku).where(V.c.sku.is_not(None)).group_by(V.c.sku)
        with reading(self.engine) as connection:
            return set(connection.scalars(query.having(func.count() > 1)))


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def store_map(mappings: Any) -> StoreMap:
    """The `kaspi_store` value map of the mapping set in force; without one, every warehouse
    goes to a single store named `default`, as `mappings/kaspi/store.yaml` ships."""
    try:
        return StoreMap.of(mappings.value_map("kaspi", STORE_MAP))
    except MappingError:
        return StoreMap({}, DEFAULT_WAREHOUSE)
