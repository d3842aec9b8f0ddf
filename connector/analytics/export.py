"""The CSV export of every customer's figures, streamed (memory flat in the customers)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, and_, select

from connector.analytics.figures import public
from connector.identity import HUB
from connector.store import reading
from connector.store.tables import customer_figures, links

HEADER = (
    "customer_id",
    "email",
    "phone",
    "segment",
    "segment_since",
    "rfm",
    "r",
    "f",
    "m",
    "orders_count",
    "revenue",
    "average_check",
    "first_order_at",
    "last_order_at",
    "mean_days_between",
    "favourite_channel",
    "favourite_category",
    "p_alive",
    "expected_orders",
)


def write_csv(engine: Engine, writer: Any) -> int:
    """Writes the header and one row per customer with figures; returns how many."""
    writer.writerow(HEADER)
    hub = links.alias("hub")
    query = (
        select(customer_figures, hub.c.data)
        .select_from(
            customer_figures.outerjoin(
                hub,
                and_(
                    hub.c.entity == "customer",
                    hub.c.system == HUB,
                    hub.c.canonical_id == customer_figures.c.customer_id,
                ),
            )
        )
        .order_by(customer_figures.c.customer_id)
    )
    count = 0
    with reading(engine) as connection:
        for row in connection.execution_options(yield_per=2000).execute(query):
            values = row._asdict()
            person = values.pop("data", None) or {}
            shown = public(values)
            shown |= {"customer_id": values["customer_id"], "email": person.get("email"),
                      "phone": person.get("phone")}  # fmt: skip
            writer.writerow(["" if shown.get(k) is None else shown[k] for k in HEADER])
            count += 1
    return count
