"""The Mailchimp member push (`push.mailchimp.member`): the person becomes an e-commerce
customer without opt-in, and a subscribed member only with marketing consent
(research/mailchimp.md 3, 12.4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.errors import PermanentError
from connector.flows.customers import MEMBER_FIELDS, mappings, record_fingerprint
from connector.flows.exporter import Exporter, Plan, Push, Write
from connector.tasks import TaskContext

if TYPE_CHECKING:
    from connector.systems.mailchimp.client import MailchimpClient


class MailchimpMemberExporter(Exporter):
    """E-commerce customer (opt_in_status from consent) plus member merge fields; the member's
    status changes only when consent changed, and never to subscribed without consent."""

    system, entity = "mailchimp", "customer"

    def plan(self, push: Push) -> Plan | None:
        customer, link, ctx = push.record, push.link, push.ctx
        if not customer.get("email"):
            return None
        settings = ctx.services.settings
        list_id, email = settings.mailchimp_audience, customer["email"]
        writes = []
        if link is not None and link.external_id != email:
            old = link.external_id
            writes.append(
                Write(
                    "mailchimp",
                    "member",
                    "rename",
                    email,
                    call=lambda client: _change_member_email(client, list_id, old, email),
                    audit=False,
                )
            )
        consent = customer.get("marketing_consent")
        store_customer = (
            mappings(ctx)
            .get("mailchimp", "customer")
            .to_system(customer | {"id": push.canonical_id})
        )
        store_id = settings.mailchimp_store_id
        writes.append(
            Write(
                "mailchimp",
                "customer",
                "upsert",
                push.canonical_id,
                call=lambda client: client.upsert_customer(store_id, store_customer),
                audit=False,
            )
        )
        member = mappings(ctx).get("mailchimp", "member").to_system(customer)
        last_consent = (link.data or {}).get("consent") if link else None
        status = None  # only a change of consent changes the status; "no" on a form is not one
        if (
            consent is True
            and last_consent is not True
            or consent is False
            and last_consent is True
        ):
            status = member.get("status")
        status_if_new = "subscribed" if consent is True else "transactional"
        extra = {k: member[k] for k in ("language",) if member.get(k)}
        merge_fields = member.get("merge_fields")

        def upsert_member(client: MailchimpClient) -> None:
            try:
                client.upsert_member(
                    list_id, email, merge_fields, status_if_new, status=status, **extra
                )
            except PermanentError as error:
                if status is None or error.status != 400:
                    raise
                # Mailchimp keeps its own word on consent (compliance state, cleaned): leave it
                client.upsert_member(list_id, email, merge_fields, status_if_new, **extra)

        writes.append(
            Write("mailchimp", "member", "upsert", email, upsert_member, {"status": status})
        )
        return Plan(
            writes,
            external_id=email,
            fingerprint=record_fingerprint(customer, MEMBER_FIELDS),
            data={"consent": consent},
        )


def push_mailchimp_member(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `push.mailchimp.member` {id: canonical customer id}."""
    MailchimpMemberExporter().run(ctx, payload)


def _change_member_email(client: MailchimpClient, list_id: str, old: str, new: str) -> None:
    try:
        client.change_member_email(list_id, old, new)
    except PermanentError as error:
        if error.status not in (400, 404):
            raise
