"""Bitrix24 CRM: REST client (webhook or OAuth app), batches, limits, events and setup."""

from connector.systems.bitrix24.batch import Command, CommandResult, raise_for_errors
from connector.systems.bitrix24.client import Bitrix24Client, Stage, UserField
from connector.systems.bitrix24.limiter import ENTERPRISE, STANDARD, OperatingBudget, Plan
from connector.systems.bitrix24.oauth import (
    MemoryTokenStore,
    OAuthConnection,
    TokenStore,
    WebhookConnection,
)

__all__ = [
    "ENTERPRISE",
    "STANDARD",
    "Bitrix24Client",
    "Command",
    "CommandResult",
    "MemoryTokenStore",
    "OAuthConnection",
    "OperatingBudget",
    "Plan",
    "Stage",
    "TokenStore",
    "UserField",
    "WebhookConnection",
    "raise_for_errors",
]
