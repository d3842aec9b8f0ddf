"""The built-in bonus ledger: one account per customer, entries never edited, balance = their sum.

Design from research/shop_delivery_loyalty.md §5.3: every movement is a new entry carrying an
idempotency key derived from the business fact (unique in the store), so a replayed event, poll or
crashed job cannot count twice; corrections are new entries (TigerBeetle's "reversed using a
correcting transfer"); spending is two-phase (hold, then spend or void); accruals wait in `pending`
until the return window ends; available points are lots that expire oldest first (FEFO).

An entry moves points between three balances of one account: `available`, `pending` (earned, still
locked) and `held` (reserved at checkout). No balance may go below zero: a movement that would is
either refused (`InsufficientBalance`, at checkout) or capped, the part not taken being recorded as
the entry's `shortfall` (a reversal of points the customer already spent).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from connector.errors import ConnectorError, PermanentError
from connector.identity import take_turns
from connector.store import reading
from connector.store.raw import RawSQL, as_json, run_returning, select_rows
from connector.store.tables import identity_keys, loyalty_accounts, loyalty_entries

log = logging.getLogger(__name__)

KINDS = (
    "accrual",
    "pending",
    "release",
    "spend",
    "hold",
    "void",
    "reversal",
    "expiry",
    "adjustment",  # a correction by support, with its reason and who made it (the console)
)
CENT = Decimal("0.01")
DAY = 86400.0


def to_cents(value: Any) -> int:
    """Points or money (str, int, Decimal) as integer hundredths, rounded half up."""
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


class InsufficientBalance(ConnectorError):
    """A hold or spend asks for more than the available balance (HTTP 409 at checkout)."""

    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(
            f"insufficient balance: {from_cents(wanted)} wanted, {from_cents(available)} available"
        )
        self.wanted, self.available = wanted, available


class LoyaltyRefused(PermanentError):
    """A request the rules refuse (over the payable share, unknown hold); `code` names why."""


@dataclass(frozen=True)
class Balance:
    """An account's balances at one moment, in points."""

    customer_id: str
    card_number: str | None
    available: Decimal
    pending: Decimal
    held: Decimal
    tier: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "card_number": self.card_number,
            "tier": self.tier,
            "available": str(self.available),
            "pending": str(self.pending),
            "held": str(self.held),
        }


@dataclass(frozen=True)
class Entry:
    """One ledger entry as support sees it in the history."""

    id: int
    kind: str
    available: Decimal
    pending: Decimal
    held: Decimal
    order_id: str | None
    idempotency_key: str
    created_at: float
    expires_at: float | None
    reverses: str | None = None
    shortfall: Decimal = Decimal("0.00")
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "available": str(self.available),
            "pending": str(self.pending),
            "held": str(self.held),
            "order_id": self.order_id,
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "reverses": self.reverses,
            "shortfall": str(self.shortfall),
            "detail": self.detail,
        }


@dataclass
class Sums:
    """Balances in hundredths, as a transaction sees them."""

    available: int = 0
    pending: int = 0
    held: int = 0


class Postings:
    """The writes of one transaction on one account: checks balances, skips used keys."""

    def __init__(self, connection: Connection, customer_id: str, now: float) -> None:
        self.connection = connection
        self.customer_id = customer_id
        self.now = now
        self.sums = _sums(connection, customer_id)
        self.posted = 0

    def post(
        self,
        kind: str,
        key: str,
        available: int = 0,
        pending: int = 0,
        held: int = 0,
        order_id: str | None = None,
        expires_at: float | None = None,
        reverses: str | None = None,
        shortfall: int = 0,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Adds one entry; False (and nothing written) when its key was already used."""
        assert kind in KINDS, kind
        if select_rows(self.connection, _ENTRY_BY_KEY, (key,)):
            return False
        after = Sums(
            self.sums.available + available, self.sums.pending + pending, self.sums.held + held
        )
        if after.available < 0:
            raise InsufficientBalance(-available, self.sums.available)
        if after.pending < 0 or after.held < 0:
            raise PermanentError(f"ledger entry {key} would make a balance negative", "ledger")
        run_returning(
            self.connection,
            _INSERT_ENTRY,
            (
                self.customer_id,
                kind,
                available,
                pending,
                held,
                shortfall,
                reverses,
                order_id,
                key,
                self.now,
                expires_at,
                as_json(detail),  # None as JSON null, as the JSON type stores it
            ),
        )
        self.sums = after
        self.posted += 1
        return True


def _sums(connection: Connection, customer_id: str) -> Sums:
    row = select_rows(connection, _SUMS, (customer_id,))[0]
    return Sums(int(row[0]), int(row[1]), int(row[2]))


# The statements of every posting, in plain SQL on the transaction's cursor
# (connector/store/raw.py): an order's accrual runs them inside SQLite's one write turn.
_SUMS = RawSQL(
    "SELECT COALESCE(SUM(available), 0), COALESCE(SUM(pending), 0), COALESCE(SUM(held), 0)"
    " FROM loyalty_entries WHERE customer_id = ?"
)
_ENTRY_BY_KEY = RawSQL("SELECT id FROM loyalty_entries WHERE idempotency_key = ?")
_INSERT_ENTRY = RawSQL(
    "INSERT INTO loyalty_entries (customer_id, kind, available, pending, held, shortfall,"
    " reverses, order_id, idempotency_key, created_at, expires_at, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def luhn_digit(digits: str) -> str:
    """The Luhn check digit (as on payment and most loyalty cards) of a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def issue_card_number(prefix: str, length: int) -> str:
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + luhn_digit(body)


# -- reading ----------------------------------------------------------------------------------


def read_balance(connection: Connection, customer_id: str) -> Balance | None:
    account = connection.execute(
        select(loyalty_accounts).where(loyalty_accounts.c.customer_id == customer_id)
    ).first()
    if account is None:
        return None
    sums = _sums(connection, customer_id)
    return Balance(
        customer_id,
        account.card_number,
        from_cents(sums.available),
        from_cents(sums.pending),
        from_cents(sums.held),
        account.tier,
    )


def find_customer(
    connection: Connection,
    card: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    customer_id: str | None = None,
) -> str | None:
    """The canonical customer id of a card, phone (E.164) or email (identity_keys, then cards)."""
    if customer_id:
        return customer_id
    for kind, value in (("card", card), ("phone", phone), ("email", email and email.lower())):
        if not value:
            continue
        found = connection.scalar(
            select(identity_keys.c.canonical_id).where(
                identity_keys.c.kind == kind, identity_keys.c.value == value
            )
        )
        if found is None and kind == "card":
            found = connection.scalar(
                select(loyalty_accounts.c.customer_id).where(
                    loyalty_accounts.c.card_number == value
                )
            )
        if found:
            return str(found)
    return None


def history(connection: Connection, customer_id: str, limit: int = 100) -> list[Entry]:
    """The newest `limit` entries of an account, oldest first."""
    rows = connection.execute(
        select(loyalty_entries)
        .where(loyalty_entries.c.customer_id == customer_id)
        .order_by(loyalty_entries.c.id.desc())
        .limit(limit)
    ).all()
    return [
        Entry(
            id=r.id,
            kind=r.kind,
            available=from_cents(r.available),
            pending=from_cents(r.pending),
            held=from_cents(r.held),
            order_id=r.order_id,
            idempotency_key=r.idempotency_key,
            created_at=r.created_at,
            expires_at=r.expires_at,
            reverses=r.reverses,
            shortfall=from_cents(r.shortfall),
            detail=r.detail or {},
        )
        for r in reversed(rows)
    ]


# -- accounts ---------------------------------------------------------------------------------


def lock_account(
    connection: Connection,
    customer_id: str,
    now: float,
    card_prefix: str = "77",
    card_length: int = 13,
    card: str | None = None,
) -> Any:
    """The account row, locked for this transaction (PostgreSQL), created on first use.

    A card from the shop or POS is kept; otherwise a number is issued. Either becomes an
    identity key of kind `card`, so "balance by card" finds the customer.
    """
    query = select(loyalty_accounts).where(loyalty_accounts.c.customer_id == customer_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    account = connection.execute(query).first()
    if account is None:
        # FOR UPDATE locks no missing row: on PostgreSQL racing first postings would all insert
        # the account. They take turns; the later ones then find the first one's account.
        take_turns(connection, [f"loyalty:account:{customer_id}"])
        account = connection.execute(query).first()
    if account is not None:
        if card and card != account.card_number:
            _add_card_key(connection, card, customer_id)  # a second card (POS) finds them too
        return account
    number = card
    if card and _card_owner(connection, card) not in (None, customer_id):
        log.warning("card %s belongs to another customer; issuing a new one", card)
        number = None
    while number is None:
        candidate = issue_card_number(card_prefix, card_length)
        number = None if _card_owner(connection, candidate) else candidate
    connection.execute(
        insert(loyalty_accounts).values(customer_id=customer_id, card_number=number, created_at=now)
    )
    _add_card_key(connection, number, customer_id)
    return connection.execute(query).first()


def _card_owner(connection: Connection, card: str) -> str | None:
    owner = connection.scalar(
        select(loyalty_accounts.c.customer_id).where(loyalty_accounts.c.card_number == card)
    )
    if owner is None:
        owner = connection.scalar(
            select(identity_keys.c.canonical_id).where(
                identity_keys.c.kind == "card", identity_keys.c.value == card
            )
        )
    return None if owner is None else str(owner)


def _add_card_key(connection: Connection, card: str, customer_id: str) -> None:
    known = connection.scalar(
        select(identity_keys.c.canonical_id).where(
            identity_keys.c.kind == "card", identity_keys.c.value == card
        )
    )
    if known is None:
        connection.execute(
            insert(identity_keys).values(kind="card", value=card, canonical_id=customer_id)
        )


@contextmanager
def account_transaction(
    engine: Engine,
    customer_id: str,
    now: float,
    rules: Any,
    card: str | None = None,
    on_change: Callable[[Connection, str], None] | None = None,
) -> Iterator[Postings]:
    """One write transaction on one account; `on_change` runs in it when anything was posted."""
    with engine.begin() as connection:
        lock_account(connection, customer_id, now, rules.card_prefix, rules.card_length, card)
        postings = Postings(connection, customer_id, now)
        yield postings
        if postings.posted and on_change is not None:
            on_change(connection, customer_id)


def balance_of(engine: Engine, customer_id: str) -> Balance | None:
    with reading(engine) as connection:
        return read_balance(connection, customer_id)


def now_or(clock: Callable[[], float] | None) -> float:
    return (clock or time.time)()
