"""Mailchimp Marketing API: audience members, e-commerce store, batches, webhooks, setup."""

from connector.systems.mailchimp.batch import Operation, OperationResult, run_batch
from connector.systems.mailchimp.client import (
    MailchimpClient,
    MailchimpError,
    MergeField,
    base_url_from_key,
    subscriber_hash,
)

__all__ = [
    "MailchimpClient",
    "MailchimpError",
    "MergeField",
    "Operation",
    "OperationResult",
    "base_url_from_key",
    "run_batch",
    "subscriber_hash",
]
