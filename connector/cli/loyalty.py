"""`connector loyalty`: balances and histories for support, the rules check for admins."""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from connector.cli._common import build_services, env_file_option
from connector.config import Settings

if TYPE_CHECKING:
    from connector.loyalty.provider import LoyaltyProvider


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _who(provider: LoyaltyProvider, settings: Settings, card: str | None, phone: str | None,
         email: str | None, customer: str | None) -> str:  # fmt: skip
    from connector.loyalty.lookup import resolve_customer

    if not any((card, phone, email, customer)):
        raise click.UsageError("give one of --card, --phone, --email or --customer")
    try:
        found = resolve_customer(provider, settings.mappings_dir, card, phone, email, customer)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--phone") from None
    if found is None:
        click.echo("no bonus account for this customer", err=True)
        sys.exit(1)
    return found


def _selectors(function: Any) -> Any:
    for option in (
        click.option("--customer", help="The connector's canonical customer id."),
        click.option("--email", help="E-mail address."),
        click.option("--phone", help="Phone, E.164 (+380671234567) or as the customer typed it."),
        click.option("--card", help="Loyalty card number."),
    ):
        function = option(function)
    return function


@click.group()
def loyalty() -> None:
    """Bonus balances, histories and the loyalty rules."""


@loyalty.command()
@_selectors
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@env_file_option
def balance(card: str | None, phone: str | None, email: str | None, customer: str | None,
            as_json: bool, env_file: str | None) -> None:  # fmt: skip
    """A customer's available, pending and held bonuses."""
    from connector.loyalty.tasks import provider_for

    services = build_services(env_file)
    provider = provider_for(services)
    found = provider.balance(_who(provider, services.settings, card, phone, email, customer))
    if found is None:
        click.echo("no bonus account for this customer", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
        return
    click.echo(f"customer {found.customer_id}  card {found.card_number or '-'}"
               f"  tier {found.tier or '-'}")  # fmt: skip
    click.echo(f"available {found.available}  pending {found.pending}  held {found.held}")


@loyalty.command()
@_selectors
@click.option("--limit", default=50, show_default=True, help="Newest entries to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@env_file_option
def history(card: str | None, phone: str | None, email: str | None, customer: str | None,
            limit: int, as_json: bool, env_file: str | None) -> None:  # fmt: skip
    """A customer's ledger entries, oldest first: what changed the balance, when and why."""
    from connector.loyalty.tasks import provider_for

    services = build_services(env_file)
    provider = provider_for(services)
    customer_id = _who(provider, services.settings, card, phone, email, customer)
    entries = provider.history(customer_id, limit)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    table = Table(title=f"bonus history of {customer_id}")
    for name in ("when", "kind", "available", "pending", "held", "order", "expires", "key"):
        table.add_column(
            name, justify="right" if name in ("available", "pending", "held") else "left"
        )
    for e in entries:
        kind = f"{e.kind} ({e.reverses})" if e.reverses else e.kind
        table.add_row(_when(e.created_at), kind, _signed(e.available), _signed(e.pending),
                      _signed(e.held), e.order_id or "", _when(e.expires_at),
                      e.idempotency_key)  # fmt: skip
    Console(width=160).print(table)


@loyalty.command()
@_selectors
@click.argument("tier_name", metavar="TIER", required=False)
@env_file_option
def tier(card: str | None, phone: str | None, email: str | None, customer: str | None,
         tier_name: str | None, env_file: str | None) -> None:  # fmt: skip
    """Set a customer's tier (its accrual percent comes from the rules); no TIER clears it."""
    from connector.loyalty.openloyalty import OpenLoyaltyProvider
    from connector.loyalty.rules import rules_for
    from connector.loyalty.tasks import provider_for

    services = build_services(env_file)
    provider = provider_for(services)
    customer_id = _who(provider, services.settings, card, phone, email, customer)
    known = rules_for(services.settings).tier_percents
    if tier_name and tier_name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise click.BadParameter(f"not a tier of the rules (tiers: {names})", param_hint="TIER")
    ledger = provider.ledger if isinstance(provider, OpenLoyaltyProvider) else provider
    ledger.set_tier(customer_id, tier_name)
    click.echo(f"customer {customer_id}: tier {tier_name or '-'}")


def _signed(value: Decimal) -> str:
    return "" if value == 0 else f"{value:+}"


@loyalty.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def rules(path: str | None) -> None:
    """Check the loyalty rules file (default: the one in force) and print the rules."""
    from connector.loyalty.rules import check_rules_file, rules_path
    from connector.mapping import format_error

    if path is None:
        from connector.config import load_settings

        path = rules_path(load_settings().mappings_dir)
    found, errors = check_rules_file(path)
    if found is None:
        for error in errors:
            click.echo(format_error(error))
        count = len(errors)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in {path}", err=True)
        sys.exit(1)
    tiers = ", ".join(f"{t} {p}%" for t, p in found.tier_percents.items()) or "none"
    click.echo(f"ok: {path}")
    click.echo(f"accrual {found.accrual_percent}% of {found.accrue_on.replace('_', ' ')}"
               f" (tiers: {tiers}); pending until {found.pending_until}"
               f" + {found.return_window_days:g} days; at most {found.max_share_percent}%"
               f" of an order in bonuses; expiry {found.expiry_days:g} days")  # fmt: skip


command = loyalty
