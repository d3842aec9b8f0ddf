"""`connector cascades`: the scenarios of mappings/cascades.yaml and their state (`list`), and a
dry run of one scenario for one customer (`try`): what would be sent, when and why, sending
nothing."""

from __future__ import annotations

import click


@click.group()
def cascades() -> None:
    """Trigger cascades across channels: email, SMS, messengers (mappings/cascades.yaml)."""


command = cascades
