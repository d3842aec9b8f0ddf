"""The Bitrix24 copy of the catalogue: `crm.product.*` items, one per variant, linked by SKU.

Why `crm.product.add/update/list` and not `catalog.product.*`: the deal product rows the
connector writes (`crm.deal.productrows.set`, research/bitrix24.md 5.4) refer to catalogue items
by `PRODUCT_ID`, which is the `crm.product` ID; `crm.product.*` needs no catalogue iblock id nor
the `catalog` scope, and works on every plan and in the bundled emulator, while the repository's
specs hold no fixture of `catalog.product.*` (its stock lives in `catalog.storeproduct.*`, a
module not every portal has). Stock therefore goes to a product property named in
mappings/catalogue.yaml (`stock_property`, e.g. `PROPERTY_STOCK`), and an unavailable item
(deleted, draft, sold out) is `ACTIVE: N`, never removed.

Writes are `Command`s: `run_commands` sends them through the portal's dispatcher, 50 to a
`batch` call, shared with every other running task.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.systems.bitrix24.batch import Command, CommandResult

LIST_SELECT = ("ID", "NAME", "PRICE", "CURRENCY_ID", "XML_ID", "ACTIVE")


@dataclass(frozen=True)
class ProductCommand:
    """A `Write.call` that is a Bitrix24 command, so an executor can batch many of them."""

    command: Command

    def __call__(self, client: Any) -> Any:
        return client.call(self.command.method, dict(self.command.params))


def item_fields(
    *,
    name: str,
    sku: str | None,
    price: str | None,
    currency: str,
    active: bool,
    stock: int | None,
    description: str | None,
    stock_property: str | None,
) -> dict[str, Any]:
    """The `fields` of crm.product.add / update for one variant."""
    fields: dict[str, Any] = {
        "NAME": name,
        "PRICE": price if price is not None else "0",
        "CURRENCY_ID": currency,
        "ACTIVE": "Y" if active else "N",
        "XML_ID": sku or "",
    }
    if description:
        fields["DESCRIPTION"] = description[:2000]
    if stock_property:
        fields[stock_property] = stock if stock is not None else ""
    return fields


def add(fields: Mapping[str, Any]) -> ProductCommand:
    return ProductCommand(Command("crm.product.add", {"fields": dict(fields)}))


def update(product_id: str, fields: Mapping[str, Any]) -> ProductCommand:
    return ProductCommand(Command("crm.product.update", {"id": product_id, "fields": dict(fields)}))


def run_commands(client: Any, commands: Sequence[Command]) -> list[CommandResult]:
    """Every command in `batch` calls of up to 50 (results in order, errors per command). With
    the portal's dispatcher on, every command goes through it, so the commands of all running
    pushes (and of other tasks) fill each `batch` call to 50 whatever each push holds."""
    todo = list(commands)
    if getattr(client, "dispatcher", None) is not None:
        return client._dispatched_batch(todo)
    return client.batch(todo)


def find_by_sku(client: Any, skus: Sequence[str]) -> dict[str, str]:
    """The IDs of items already holding these SKUs (`XML_ID`): an add whose answer was lost."""
    found: dict[str, str] = {}
    for start in range(0, len(skus), 50):
        chunk = list(skus[start : start + 50])
        for row in client.list_all("crm.product.list", {"@XML_ID": chunk}, ["ID", "XML_ID"]):
            if row.get("XML_ID"):
                found.setdefault(str(row["XML_ID"]), str(row["ID"]))
    return found


def items(client: Any, pages_per_call: int = 10) -> Iterator[dict[str, Any]]:
    """Every catalogue item, page by page (50 a page, several pages a call): memory flat."""
    return client.list_all(
        "crm.product.list", None, list(LIST_SELECT), pages_per_call=pages_per_call
    )
