"""`connector admin`: the console's accounts (add-user, list-users, set-role, remove-user)."""

from __future__ import annotations

import sys

import click

from connector.admin import accounts_for
from connector.admin.auth import ROLES, AccountError
from connector.cli._common import build_services, env_file_option


def _read_password() -> str:
    """Asked twice on a terminal; else the first line of stdin (for scripts)."""
    if sys.stdin.isatty():
        return str(click.prompt("password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise AccountError("no password on stdin")
    return line


@click.group()
def admin() -> None:
    """Accounts of the admin console (/admin)."""


@admin.command("add-user")
@env_file_option
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
def add_user(env_file: str | None, name: str, role: str) -> None:
    """Add an account; the password is asked for, or read from stdin."""
    services = build_services(env_file)
    accounts = accounts_for(services)
    account = accounts.add(name, role, _read_password())
    accounts.record("cli", "account-add", account.name, {"role": role})
    click.echo(f"added {account.name} ({account.role})")


@admin.command("list-users")
@env_file_option
def list_users(env_file: str | None) -> None:
    """List the accounts and their roles."""
    rows = accounts_for(build_services(env_file)).all()
    for row in rows:
        click.echo(f"{row['name']}\t{row['role']}")
    if not rows:
        click.echo("no accounts; add one with `connector admin add-user NAME --role admin`")


@admin.command("set-role")
@env_file_option
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def set_role(env_file: str | None, name: str, role: str) -> None:
    """Change an account's role."""
    accounts = accounts_for(build_services(env_file))
    account = accounts.set_role(name, role)
    accounts.record("cli", "account-role", account.name, {"role": role})
    click.echo(f"{account.name} is now {account.role}")


@admin.command("set-password")
@env_file_option
@click.argument("name")
def set_password(env_file: str | None, name: str) -> None:
    """Change an account's password (asked for, or read from stdin)."""
    accounts = accounts_for(build_services(env_file))
    accounts.set_password(name, _read_password())
    accounts.record("cli", "account-password", name)
    click.echo(f"password of {name} changed")


@admin.command("remove-user")
@env_file_option
@click.argument("name")
def remove_user(env_file: str | None, name: str) -> None:
    """Remove an account and end its sessions."""
    accounts = accounts_for(build_services(env_file))
    accounts.remove(name)
    accounts.record("cli", "account-remove", name)
    click.echo(f"removed {name}")


command = admin
