"""Every ordering and dedupe key of the queue, built in one place.

An ordering key serialises the tasks that touch one record in one system (`deal:bitrix24:42`);
a dedupe key makes a second enqueue of the same work a no-op. Tasks already queued carry the
keys these helpers built, so a helper's output must never change, character for character
(tests/core/test_keys.py pins each against its literal format).

Ordering keys:

    record("deal", "bitrix24", 42)        deal:bitrix24:42      a record in a system
    member("A@B.c")                       member:mailchimp:a@b.c
    loyalty_customer(7)                   customer:loyalty:7
    shipment_of_order(9)                  shipment:order:9
    balance(7)                            balance:7
    job("nightly")                        job:nightly

Dedupe keys: `synced`, `offline_event`, `imported`, `job_bucket`, `loyalty_event`,
`delivery`, `delivery_registration`, `delivery_cancel`, `balance_bucket`, `bonus_expiring`,
`contact_for_deal`, `reconcile`.
"""

from __future__ import annotations

from typing import Any


def _join(*parts: Any) -> str:
    return ":".join(str(part) for part in parts)


# --------------------------------------------------------------------------- ordering keys


def record(entity: str, system: str, record_id: Any) -> str:
    """The ordering key of one record of one system: `deal:bitrix24:42`, `order:shop:A-1`."""
    return _join(entity, system, record_id)


def member(email: str) -> str:
    """A Mailchimp member's ordering key: the address lowercased, as Mailchimp compares it."""
    return record("member", "mailchimp", email.lower())


def loyalty_customer(customer_id: Any) -> str:
    """Serialises the loyalty events of one canonical customer."""
    return record("customer", "loyalty", customer_id)


def shipment_of_order(canonical_order_id: Any) -> str:
    """Serialises the shipment work of one canonical order (whatever the carrier)."""
    return _join("shipment", "order", canonical_order_id)


def balance(customer_id: Any) -> str:
    """Serialises the balance publications of one canonical customer."""
    return _join("balance", customer_id)


def job(name: str) -> str:
    """Serialises the runs of one scheduled job."""
    return _join("job", name)


# --------------------------------------------------------------------------- dedupe keys


def synced(system: str, entity: str, record_id: Any, modified: Any) -> str:
    """A polled change of a record: `sync:woocommerce:order:12:2024-01-01T00:00:00`."""
    return _join("sync", system, entity, record_id, modified)


def offline_event(system: str, event_id: Any, stamp: Any) -> str:
    """An event read from a system's offline queue (Bitrix24's event.offline.get)."""
    return _join("offline", system, event_id, stamp)


def imported(source: str, entity: str, receipt: Any) -> str:
    """A record imported from a file or a POS export: `import:pos:order:R-1`."""
    return _join("import", source, entity, receipt)


def job_bucket(name: str, bucket: Any) -> str:
    """One time bucket of a scheduled job: a second scheduler's enqueue is a no-op."""
    return _join("job", name, bucket)


def loyalty_event(order_id: Any, event: str, version: Any) -> str:
    """One loyalty event of an order at one version (`shipment` for carrier events)."""
    return _join("loyalty", order_id, event, version)


def delivery(system: str, order_id: Any, *parts: Any) -> str:
    """A delivery update told to a system: `delivery:bitrix24:{order}:{carrier}:{state}:{at}`,
    `delivery:woocommerce:{order}:{number}`, `delivery:event:{order}:{carrier}:{state}`."""
    return _join("delivery", system, order_id, *parts)


def delivery_registration(canonical_order_id: Any) -> str:
    """The one registration of an order's shipment with its carrier."""
    return _join("delivery", "register", canonical_order_id)


def delivery_cancel(canonical_order_id: Any) -> str:
    """The one cancellation of an order's shipment with its carrier."""
    return _join("delivery", "cancel", canonical_order_id)


def balance_bucket(customer_id: Any, bucket: Any) -> str:
    """One coalescing bucket of a customer's balance publication."""
    return _join("balance", customer_id, bucket)


def bonus_expiring(customer_id: Any, date: Any) -> str:
    """The one "bonus expiring" notice of a customer for a date."""
    return _join("bonus_expiring", customer_id, date)


def contact_for_deal(task_id: Any) -> str:
    """The contact push a deal push asks for before it can run."""
    return _join("contact-for-deal", task_id)


def reconcile(run: Any, kind: str, digest: str) -> str:
    """One repair task of one reconcile run."""
    return _join("reconcile", run, kind, digest)


# --------------------------------------------------------------------------- lanes


def lane(kind: str) -> str:
    """The queue lane of a task kind: the system it works for, `push.bitrix24.deal` →
    `bitrix24`, `woocommerce.order` → `woocommerce`, `sync.poll` → `sync`. A claim shares its
    tasks between the lanes of a priority, so one system's backlog never starves another's."""
    parts = kind.split(".")
    name = parts[1] if parts[0] == "push" and len(parts) > 1 else parts[0]
    return name[:30]


# --------------------------------------------------------------------------- analytics


def figures(system: str, customer_id: Any) -> str:
    """Serialises the writes of one customer's figures (RFM, LTV) to one system."""
    return _join("figures", system, customer_id)


def figures_bucket(system: str, customer_id: Any, bucket: Any) -> str:
    """One coalescing bucket of a customer's figures push to one system."""
    return _join("figures", system, customer_id, bucket)


def figures_batch(system: str, run: Any, number: Any) -> str:
    """One batch of the changed figures a nightly analytics run pushes to one system."""
    return _join("figures", system, "run", run, number)


def segment_entered(customer_id: Any, segment: str, at: Any) -> str:
    """The one member event of a customer's entry into a segment at a moment."""
    return _join("segment", customer_id, segment, at)


# --------------------------------------------------------------------------- cascades


def cascade_customer(customer_id: Any) -> str:
    """Serialises the cascade events of one canonical customer (her runs start and stop in
    the order the events came)."""
    return _join("cascade", "customer", customer_id)


def cascade_event(event: str, customer_id: Any, ref: Any, version: Any) -> str:
    """One trigger event of a customer, about the record `ref`, at one version (a status, a
    time): a duplicated delivery of it is a no-op."""
    return _join("cascade", event, customer_id, ref, version)


def cascade_step(run_id: Any, step: Any) -> str:
    """The one task of step `step` (0-based) of cascade run `run_id`."""
    return _join("cascade", "step", run_id, step)


def cascade_timeline(run_id: Any) -> str:
    """The one CRM timeline comment of a converted cascade run."""
    return _join("cascade", "timeline", run_id)


# --------------------------------------------------------------------------- channels, catalogue


def telegram_crm(customer_id: Any) -> str:
    """Serialises the writes of one customer's Telegram start link into the CRM."""
    return _join("telegram-crm", customer_id)


def telegram_crm_bucket(kind: str, customer_id: Any, bucket: Any) -> str:
    """The one CRM start-link write of a customer in an hour's bucket."""
    return _join(kind, customer_id, bucket)


def catalogue_stock(source: str, receipt: Any, product_id: Any) -> str:
    """The one re-read of a product after an offline sale (`receipt` of `source`) lowered it."""
    return _join("catalogue", "stock", source, receipt, product_id)
