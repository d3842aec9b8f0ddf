"""The texts of alert messages: one subject line and a few lines, phones, emails and secrets
masked (a summary may quote an error a remote system wrote about a customer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.alerts.channels import Message
from connector.alerts.rules import DEAD_LETTERS, minutes, when
from connector.config import Settings
from connector.logs import mask

PREFIX = "[connector]"
SUBJECT_LENGTH = 150


def _masked(settings: Settings, subject: str, lines: list[str]) -> Message:
    secrets = settings.secrets()
    subject = mask(subject, secrets).replace("\n", " ")
    if len(subject) > SUBJECT_LENGTH:
        subject = subject[: SUBJECT_LENGTH - 3] + "..."
    return Message(subject=subject, text=mask("\n".join(line for line in lines if line), secrets))


def _console(settings: Settings, path: str) -> str:
    if not settings.public_url:
        return ""
    return f"Console: {settings.public_url.rstrip('/')}/admin/{path}"


def message_for(incident: Mapping[str, Any], event: str, settings: Settings) -> Message:
    """The message an incident owes for `event` (open | clear | notice)."""
    detail = incident.get("detail") or {}
    summary = str(incident["summary"])
    if incident["rule"] == DEAD_LETTERS or event == "notice":
        kinds = ", ".join(detail.get("kinds") or [])
        return _masked(
            settings,
            f"{PREFIX} {summary} since {when(detail.get('since'))}",
            [
                f"{summary} between {when(detail.get('since'))} and {when(detail.get('until'))}"
                + (f": {kinds}" if kinds else "")
                + ".",
                f"Dead letters in all: {detail.get('total')}." if detail.get("total") else "",
                f"Newest error: {detail['newest_error']}" if detail.get("newest_error") else "",
                "See them with `connector dlq list`, replay with `connector dlq replay`.",
                _console(settings, ""),
            ],
        )
    if event == "clear":
        lasted = minutes(
            max(0.0, float(incident["cleared_at"] or 0) - float(incident["opened_at"]))
        )
        return _masked(
            settings,
            f"{PREFIX} RESOLVED: {summary}",
            [
                f"Resolved at {when(incident['cleared_at'])}, after {lasted}.",
                f"It began: {summary}",
            ],
        )
    return _masked(
        settings,
        f"{PREFIX} PROBLEM: {summary}",
        [
            f"{summary}.",
            f"Last error ({detail.get('last_error_kind')}): {detail['last_error']}"
            if detail.get("last_error")
            else "",
            f"Opened at {when(incident['opened_at'])}; you will get one message when it clears.",
            "`connector status` and `connector alerts status` show more.",
            _console(settings, ""),
        ],
    )


def test_message(settings: Settings, now: float) -> Message:
    return _masked(
        settings,
        f"{PREFIX} test alert",
        [
            f"A test message sent at {when(now)} by `connector alerts test` or the console.",
            "This channel receives the connector's alerts.",
        ],
    )
