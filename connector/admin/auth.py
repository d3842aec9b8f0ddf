"""Who may use the console: accounts (argon2 hashes), server-side sessions, roles, CSRF, the
sign-in rate limit and the trail of every action.

The cookie holds a random token; the store keeps only its SHA-256, so a copy of the table signs
nobody in. Each session has its own CSRF token: every POST to /admin must carry it in the form
field `csrf_token` (or the `X-CSRF-Token` header), else 400. The sign-in form, which has no
session yet, carries a token that must match a cookie of its own (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, request
from markupsafe import Markup, escape
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from connector.errors import ConnectorError
from connector.store import reading
from connector.store.tables import (
    admin_accounts,
    admin_actions,
    admin_sessions,
    admin_signin_failures,
)

ROLES = ("viewer", "operator", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}
COOKIE = "connector_admin"
SIGNIN_COOKIE = "connector_admin_signin"
CSRF_FIELD = "csrf_token"
SIGNIN_WINDOW = 15 * 60.0
NAME_MAX = 100

View = TypeVar("View", bound=Callable[..., Any])


class AccountError(ConnectorError):
    """An account command cannot be done (unknown name, taken name, bad role, empty password)."""


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str

    def may(self, role: str) -> bool:
        """True when this account's role is `role` or above (viewer < operator < admin)."""
        return RANK[self.role] >= RANK[role]


@dataclass(frozen=True)
class Session:
    account: Account
    csrf: str
    expires_at: float


def check_role(role: str) -> str:
    if role not in RANK:
        raise AccountError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Accounts, sessions and sign-in failures in the store, on an injectable clock."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], float],
        *,
        idle_seconds: float = 3600.0,
        max_seconds: float = 12 * 3600.0,
        attempts: int = 5,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.attempts = attempts
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    # -- accounts ----------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str) -> Account:
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise AccountError(f"account name must be 1 to {NAME_MAX} characters")
        check_role(role)
        if len(password) < 8:
            raise AccountError("password must be at least 8 characters")
        hashed = self.hasher.hash(password)
        with self.engine.begin() as connection:
            if connection.scalar(select(admin_accounts.c.id).where(admin_accounts.c.name == name)):
                raise AccountError(f"account {name!r} exists already")
            new_id = connection.execute(
                insert(admin_accounts).values(
                    name=name, role=role, password_hash=hashed, created_at=self.clock()
                )
            ).inserted_primary_key
        assert new_id is not None
        return Account(int(new_id[0]), name, role)

    def get(self, name: str) -> Account | None:
        with reading(self.engine) as connection:
            row = connection.execute(
                select(admin_accounts.c.id, admin_accounts.c.name, admin_accounts.c.role).where(
                    admin_accounts.c.name == name
                )
            ).first()
        return Account(int(row[0]), row[1], row[2]) if row else None

    def all(self) -> list[dict[str, Any]]:
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(
                    admin_accounts.c.id,
                    admin_accounts.c.name,
                    admin_accounts.c.role,
                    admin_accounts.c.created_at,
                ).order_by(admin_accounts.c.name)
            ).mappings()
            return [dict(r) for r in rows]

    def set_role(self, name: str, role: str) -> Account:
        check_role(role)
        with self.engine.begin() as connection:
            found = connection.execute(
                update(admin_accounts).where(admin_accounts.c.name == name).values(role=role)
            ).rowcount
        if not found:
            raise AccountError(f"no account {name!r}")
        account = self.get(name)
        assert account is not None
        return account

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 8:
            raise AccountError("password must be at least 8 characters")
        hashed = self.hasher.hash(password)
        with self.engine.begin() as connection:
            found = connection.execute(
                update(admin_accounts)
                .where(admin_accounts.c.name == name)
                .values(password_hash=hashed)
            ).rowcount
        if not found:
            raise AccountError(f"no account {name!r}")

    def remove(self, name: str) -> None:
        """Deletes the account and ends its sessions."""
        with self.engine.begin() as connection:
            account_id = connection.scalar(
                select(admin_accounts.c.id).where(admin_accounts.c.name == name)
            )
            if account_id is None:
                raise AccountError(f"no account {name!r}")
            connection.execute(
                delete(admin_sessions).where(admin_sessions.c.account_id == account_id)
            )
            connection.execute(delete(admin_accounts).where(admin_accounts.c.id == account_id))

    # -- signing in --------------------------------------------------------------------------

    def limited(self, name: str, address: str) -> bool:
        """True when the account or the address used up its refused sign-ins in the window."""
        since = self.clock() - SIGNIN_WINDOW
        failures = admin_signin_failures
        with reading(self.engine) as connection:
            by_account = connection.scalar(
                select(func.count()).where(failures.c.account == name, failures.c.at >= since)
            )
            by_address = connection.scalar(
                select(func.count()).where(failures.c.address == address, failures.c.at >= since)
            )
        return (by_account or 0) >= self.attempts or (by_address or 0) >= self.attempts

    def verify(self, name: str, password: str, address: str) -> Account | None:
        """The account when the password is right; a refusal is counted for the rate limit.
        An unknown name costs the same hashing time as a known one."""
        with reading(self.engine) as connection:
            row = connection.execute(
                select(admin_accounts).where(admin_accounts.c.name == name[:NAME_MAX])
            ).first()
        if row is not None:
            stored = row.password_hash
        else:  # made once: an unknown name then costs what a known one does
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
            stored = self._dummy_hash
        try:
            ok = self.hasher.verify(stored, password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(admin_signin_failures).values(
                        account=name[:NAME_MAX], address=address[:64], at=self.clock()
                    )
                )
            return None
        if self.hasher.check_needs_rehash(stored):
            self.set_password(row.name, password)
        return Account(int(row.id), row.name, row.role)

    # -- sessions ----------------------------------------------------------------------------

    def start(self, account: Account, address: str) -> str:
        """A new session; returns the cookie's token. Old expired sessions are swept."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as connection:
            connection.execute(delete(admin_sessions).where(admin_sessions.c.expires_at < now))
            connection.execute(
                delete(admin_signin_failures).where(
                    admin_signin_failures.c.at < now - SIGNIN_WINDOW
                )
            )
            connection.execute(
                insert(admin_sessions).values(
                    id=token_id(token),
                    account_id=account.id,
                    csrf=secrets.token_urlsafe(32),
                    address=address[:64],
                    created_at=now,
                    seen_at=now,
                    expires_at=min(now + self.idle_seconds, now + self.max_seconds),
                )
            )
        return token

    def find(self, token: str) -> Session | None:
        """The live session of a cookie's token (its idle time restarted), or None."""
        now = self.clock()
        key = token_id(token)
        with reading(self.engine) as connection:
            row = connection.execute(
                select(
                    admin_sessions.c.csrf,
                    admin_sessions.c.created_at,
                    admin_sessions.c.seen_at,
                    admin_sessions.c.expires_at,
                    admin_accounts.c.id,
                    admin_accounts.c.name,
                    admin_accounts.c.role,
                )
                .join(admin_accounts, admin_accounts.c.id == admin_sessions.c.account_id)
                .where(admin_sessions.c.id == key)
            ).first()
        if row is None or row.expires_at <= now:
            return None
        expires = min(now + self.idle_seconds, row.created_at + self.max_seconds)
        if now - row.seen_at > 30:  # one write a minute or so, not one per request
            with self.engine.begin() as connection:
                connection.execute(
                    update(admin_sessions)
                    .where(admin_sessions.c.id == key)
                    .values(seen_at=now, expires_at=expires)
                )
        return Session(Account(int(row.id), row.name, row.role), row.csrf, expires)

    def end(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(admin_sessions).where(admin_sessions.c.id == token_id(token)))

    # -- the trail ---------------------------------------------------------------------------

    def record(
        self,
        account: str,
        action: str,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        address: str | None = None,
        connection: Connection | None = None,
    ) -> None:
        statement = insert(admin_actions).values(
            at=self.clock(),
            account=account[:NAME_MAX],
            action=action[:60],
            target=None if target is None else str(target)[:300],
            address=None if address is None else address[:64],
            detail=detail,
        )
        if connection is not None:
            connection.execute(statement)
            return
        with self.engine.begin() as own:
            own.execute(statement)


# -- inside a request ----------------------------------------------------------------------------


def accounts() -> Accounts:
    """The console's `Accounts`, kept on the app (built by `admin_blueprint`)."""
    return cast(Accounts, current_app.extensions["connector_admin"]["accounts"])


def current() -> Account | None:
    session = getattr(g, "admin_session", None)
    return session.account if session is not None else None


def address() -> str:
    return (request.remote_addr or "-")[:64]


def require(role: str) -> Callable[[View], View]:
    """View decorator: 403 unless the signed-in account has `role` or above. (Every console
    view already needs a session: the blueprint sends strangers to the sign-in page.)"""
    check_role(role)

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            account = current()
            if account is None:
                abort(401)
            if not account.may(role):
                abort(403)
            return view(*args, **kwargs)

        guarded.required_role = role  # type: ignore[attr-defined]
        return cast(View, guarded)

    return decorate


def csrf_token() -> str:
    session = getattr(g, "admin_session", None)
    if session is not None:
        return cast(str, session.csrf)
    token = getattr(g, "signin_csrf", None)
    if token is None:
        token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
        g.signin_csrf = token
    return cast(str, token)


def csrf_field() -> Markup:
    """The hidden input every console form carries (a Jinja global)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token())
    )


def csrf_ok() -> bool:
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    session = getattr(g, "admin_session", None)
    expected = session.csrf if session is not None else request.cookies.get(SIGNIN_COOKIE, "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent, expected)


def audit(
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    connection: Connection | None = None,
) -> None:
    """Writes one line of the console's trail with the signed-in account's name (pass the
    `connection` of the change to write both or neither)."""
    account = current()
    accounts().record(
        account.name if account is not None else "-",
        action,
        target,
        detail,
        address(),
        connection=connection,
    )
