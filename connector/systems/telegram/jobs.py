"""Telegram's scheduled job: the hourly renewal of the start links in Bitrix24 contacts, while
CONNECTOR_TELEGRAM_CRM_FIELD is set (connector/systems/telegram/crm.py)."""

from __future__ import annotations

from jobs import Job

JOBS = [
    Job(
        name="telegram-crm-links",
        kind="telegram.crm_links",
        every_seconds=3600,
        needs=("telegram_bot_token", "telegram_crm_field"),
    ),
]
