"""The Open Loyalty adapter: points live in Open Loyalty, the order logic stays in the ledger.

Open Loyalty 3.2 (research/shop_delivery_loyalty.md §5.1, specs/loyalty/openloyalty/) takes
form-encoded requests with PHP bracket keys and a Bearer token. Points move by transfers
(`/api/points/transfer/add|spend`, `/{id}/cancel`) that accept a client-chosen id
(`transfer=<uuid>`): ours is a UUID5 of the ledger entry's idempotency key, so a re-sent transfer
is refused as a duplicate instead of counted twice, and a refusal "already exists" means done.

The local ledger keeps deciding what an order accrues, spends and reverses (and keeps pending
bonuses and checkout holds, which Open Loyalty's transfer API has no notion of); it is the outbox:
every entry that changes available points is pushed as one transfer, and each push is remembered
as a link (`links`, entity `loyalty_entry`), so a push interrupted by an outage resumes where it
stopped. A reversal of an order's whole released accrual cancels its transfer (Open Loyalty's
own reversal); anything partial is a spending transfer. The available balance is Open Loyalty's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
from sqlalchemy import Connection, insert, select

from connector.config import Settings
from connector.errors import ConfigError, PermanentError
from connector.http import RetryPolicy, Timeouts, error_for_status, make_session, send
from connector.loyalty.ledger import Balance, Entry, from_cents
from connector.loyalty.orders import OrderEvent
from connector.loyalty.provider import LedgerProvider
from connector.store import reading
from connector.store.tables import identity_keys, links, loyalty_accounts, loyalty_entries

SYSTEM = "openloyalty"
TRANSFER_NAMESPACE = uuid.UUID("5d0c8f0e-6f7a-4a53-9a55-0c5d1e0b7a11")


def transfer_id(idempotency_key: str) -> str:
    """The Open Loyalty transfer id of a ledger entry: stable across retries and restarts."""
    return str(uuid.uuid5(TRANSFER_NAMESPACE, idempotency_key))


def _points(value: Decimal) -> str:
    return format(value.normalize(), "f")


class OpenLoyaltyClient:
    """The few Open Loyalty calls the adapter needs, with typed errors."""

    def __init__(
        self,
        base_url: str,
        token: str,
        session: requests.Session | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        self.base_url = root[: -len("/api")] if root.endswith("/api") else root
        self.session = session or make_session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy(attempts=3)

    def call(
        self,
        method: str,
        path: str,
        form: list[tuple[str, str]] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """One call; transfers carry their own id, so every call here is safe to repeat."""

        def once() -> Any:
            response = send(
                self.session,
                method,
                self.base_url + path,
                data=form,
                params=params,
                timeout=self.timeouts.as_tuple(),
            )
            if response.status_code >= 400:
                raise _error(response)
            return response.json() if response.content else None

        return self.retry.run(once, idempotent=True)

    def find_customer(self, **by: str | None) -> str | None:
        """The Open Loyalty id of the member with this exact email, phone or card number."""
        for name in ("loyaltyCardNumber", "email", "phone"):
            value = by.get(name)
            if value:
                found = self.call("GET", "/api/customer", params={name: value, "strict": "1"})
                if found and found.get("customers"):
                    return str(found["customers"][0]["customerId"])
        return None

    def register_customer(self, first_name: str, last_name: str, **data: str | None) -> str:
        form = [("customer[firstName]", first_name), ("customer[lastName]", last_name)]
        form += [(f"customer[{k}]", v) for k, v in data.items() if v]
        return str(self.call("POST", "/api/customer/register", form)["customerId"])

    def status(self, customer: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/customer/{customer}/status"))

    def transfer(self, kind: str, customer: str, points: Decimal, comment: str, tid: str) -> None:
        """Adds (`add`) or spends (`spend`) points under our transfer id; a re-send is a no-op."""
        form = [
            ("transfer", tid),
            ("transfer[customer]", customer),
            ("transfer[points]", _points(points)),
            ("transfer[comment]", comment),
        ]
        try:
            self.call("POST", f"/api/points/transfer/{kind}", form)
        except PermanentError as error:
            if "already exists" not in str(error):
                raise

    def cancel(self, tid: str) -> None:
        """Cancels an adding transfer (Open Loyalty's reversal); cancelling twice is a no-op."""
        try:
            self.call("POST", f"/api/points/transfer/{tid}/cancel")
        except PermanentError as error:
            if "cannot be canceled" not in str(error):
                raise


def _error(response: requests.Response) -> Exception:
    """Symfony's `{code, message, errors: {children: {field: {errors: [...]}}}}` to one line."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = str(body.get("message") or body.get("error", {}).get("message") or response.reason)
    children = (body.get("errors") or {}).get("children") or {}
    details = [
        f"{name}: {'; '.join(child['errors'])}"
        for name, child in children.items()
        if isinstance(child, dict) and child.get("errors")
    ]
    if details:
        message = f"{message}: {', '.join(details)}"
    return error_for_status(response.status_code, f"Open Loyalty: {message}", code="openloyalty")


class OpenLoyaltyProvider:
    """`LoyaltyProvider` on Open Loyalty; the ledger beside it decides and remembers."""

    def __init__(self, client: OpenLoyaltyClient, ledger: LedgerProvider) -> None:
        self.client = client
        self.ledger = ledger
        self.engine = ledger.engine

    @classmethod
    def from_settings(cls, settings: Settings, ledger: LedgerProvider) -> OpenLoyaltyProvider:
        if not settings.openloyalty_url or not settings.openloyalty_token:
            raise ConfigError(
                "CONNECTOR_OPENLOYALTY_URL and CONNECTOR_OPENLOYALTY_TOKEN are needed "
                "with CONNECTOR_LOYALTY_PROVIDER=openloyalty"
            )
        timeouts = Timeouts.from_settings(settings)
        client = OpenLoyaltyClient(settings.openloyalty_url, settings.openloyalty_token,
                                   timeouts=timeouts)  # fmt: skip
        return cls(client, ledger)

    # -- reading ------------------------------------------------------------------------------

    def balance(self, customer_id: str) -> Balance | None:
        """Available points as Open Loyalty counts them; pending and held from the ledger."""
        local = self.ledger.balance(customer_id)
        if local is None:
            return None
        member = self._member_link(customer_id)
        if member is None:
            return local
        points = Decimal(str(self.client.status(member)["points"])).quantize(Decimal("0.01"))
        return Balance(local.customer_id, local.card_number, points, local.pending, local.held,
                       local.tier)  # fmt: skip

    def find_customer(
        self, card: str | None = None, phone: str | None = None, email: str | None = None
    ) -> str | None:
        return self.ledger.find_customer(card=card, phone=phone, email=email)

    def history(self, customer_id: str, limit: int = 100) -> list[Entry]:
        return self.ledger.history(customer_id, limit)

    # -- writing: the ledger decides, then its new entries go out as transfers ----------------

    def apply_order_event(
        self, customer_id: str, order_id: str, event: OrderEvent, card: str | None = None
    ) -> int:
        written = self.ledger.apply_order_event(customer_id, order_id, event, card=card)
        self.push(customer_id)
        return written

    def accrue(self, customer_id: str, key: str, amount: Decimal, reason: str = "") -> bool:
        done = self.ledger.accrue(customer_id, key, amount, reason)
        self.push(customer_id)
        return done

    def adjust(
        self,
        customer_id: str,
        key: str,
        amount: Decimal,
        reason: str,
        by: str,
        on_posted: Callable[[Connection], None] | None = None,
    ) -> bool:
        done = self.ledger.adjust(customer_id, key, amount, reason, by, on_posted)
        self.push(customer_id)
        return done

    def open_account(self, customer_id: str, card: str | None = None) -> Balance:
        self.ledger.open_account(customer_id, card)
        self.member(customer_id)
        return self.balance(customer_id)  # type: ignore[return-value]

    def hold(
        self, customer_id: str, order_id: str, amount: Decimal, order_total: Decimal | None = None
    ) -> Balance:
        self.ledger.hold(customer_id, order_id, amount, order_total)
        self.push(customer_id)
        return self.balance(customer_id)  # type: ignore[return-value]

    def confirm(self, order_id: str, amount: Decimal | None = None) -> Balance:
        customer_id = self.ledger.confirm(order_id, amount).customer_id
        self.push(customer_id)
        return self.balance(customer_id)  # type: ignore[return-value]

    def release(self, order_id: str) -> Balance:
        customer_id = self.ledger.release(order_id).customer_id
        self.push(customer_id)
        return self.balance(customer_id)  # type: ignore[return-value]

    def release_due(self, now: float | None = None) -> int:
        written = self.ledger.release_due(now)
        self.push_all()
        return written

    def void_stale_holds(self, now: float | None = None) -> int:
        voided = self.ledger.void_stale_holds(now)
        self.push_all()
        return voided

    def expire_due(self, now: float | None = None) -> int:
        touched = self.ledger.expire_due(now)
        self.push_all()
        return touched

    def expiring_soon(self, now: float | None = None, window_days: float = 1.0) -> list[Any]:
        return self.ledger.expiring_soon(now, window_days)

    # -- the outbox ---------------------------------------------------------------------------

    def push_all(self) -> int:
        """Pushes every account's unsent entries (the safety net run by the jobs)."""
        with reading(self.engine) as connection:
            customers = list(connection.scalars(select(loyalty_entries.c.customer_id).distinct()))
        return sum(self.push(customer_id) for customer_id in customers)

    def push(self, customer_id: str) -> int:
        """Sends the account's entries not yet in Open Loyalty, oldest first; returns how many."""
        sent = 0
        for entry in self._unsent(customer_id):
            self._send(customer_id, entry)
            self._remember(entry, customer_id)
            sent += 1
        return sent

    def _unsent(self, customer_id: str) -> list[Any]:
        pushed = select(links.c.canonical_id).where(
            links.c.entity == "loyalty_entry", links.c.system == SYSTEM
        )
        e = loyalty_entries.c
        with reading(self.engine) as connection:
            return list(
                connection.execute(
                    select(loyalty_entries)
                    .where(
                        e.customer_id == customer_id,
                        e.available != 0,
                        e.id.cast(links.c.canonical_id.type).not_in(pushed),
                    )
                    .order_by(e.id)
                ).all()
            )

    def _send(self, customer_id: str, entry: Any) -> None:
        member = self.member(customer_id)
        points = from_cents(abs(int(entry.available)))
        comment = f"{entry.kind} {entry.order_id or ''}".strip()
        whole_lot = self._reversed_lot(entry)
        if whole_lot is not None:
            self.client.cancel(transfer_id(whole_lot))
        elif entry.available > 0:
            self.client.transfer("add", member, points, comment, transfer_id(entry.idempotency_key))
        else:
            self.client.transfer(
                "spend", member, points, comment, transfer_id(entry.idempotency_key)
            )

    def _reversed_lot(self, entry: Any) -> str | None:
        """The key of the release an entry undoes in full (then cancelling it is the reversal)."""
        if entry.kind != "reversal" or entry.reverses != "accrual" or not entry.order_id:
            return None
        e = loyalty_entries.c
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(e.kind, e.available, e.idempotency_key).where(
                    e.order_id == entry.order_id, e.available != 0, e.id <= entry.id
                )
            ).all()
        releases = [r for r in rows if r.kind in ("release", "accrual")]
        reversals = [r for r in rows if r.kind == "reversal" and r.available < 0]
        if len(releases) == 1 and len(reversals) == 1 and releases[0].available == -entry.available:
            return str(releases[0].idempotency_key)
        return None

    def _remember(self, entry: Any, customer_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(links).values(
                    entity="loyalty_entry",
                    canonical_id=str(entry.id),
                    system=SYSTEM,
                    external_id=transfer_id(entry.idempotency_key),
                    data={"customer_id": customer_id},
                    updated_at=time.time(),
                )
            )

    # -- members ------------------------------------------------------------------------------

    def _member_link(self, customer_id: str) -> str | None:
        with reading(self.engine) as connection:
            return connection.scalar(
                select(links.c.external_id).where(
                    links.c.entity == "customer",
                    links.c.system == SYSTEM,
                    links.c.canonical_id == customer_id,
                )
            )

    def member(self, customer_id: str) -> str:
        """The customer's Open Loyalty member id: linked, found by card/email/phone, or new."""
        known = self._member_link(customer_id)
        if known:
            return known
        with reading(self.engine) as connection:
            card = connection.scalar(
                select(loyalty_accounts.c.card_number).where(
                    loyalty_accounts.c.customer_id == customer_id
                )
            )
            keys = dict(
                connection.execute(
                    select(identity_keys.c.kind, identity_keys.c.value).where(
                        identity_keys.c.canonical_id == customer_id,
                        identity_keys.c.kind.in_(("email", "phone")),
                    )
                ).all()
            )
        found = self.client.find_customer(
            loyaltyCardNumber=card, email=keys.get("email"), phone=keys.get("phone")
        )
        if found is None:
            if not keys:
                raise PermanentError(
                    f"customer {customer_id} has no email or phone to register in Open Loyalty",
                    "openloyalty_member",
                )
            found = self.client.register_customer(
                "Customer", customer_id, email=keys.get("email"), phone=keys.get("phone"),
                loyaltyCardNumber=card,
            )  # fmt: skip
        with self.engine.begin() as connection:
            connection.execute(
                insert(links).values(
                    entity="customer",
                    canonical_id=customer_id,
                    system=SYSTEM,
                    external_id=found,
                    updated_at=time.time(),
                )
            )
        return found
