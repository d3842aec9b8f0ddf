"""The bonus balance and member events reach the CRM and Mailchimp for the loyalty feature."""

from __future__ import annotations

from connector.flows.balance import publish_balance, send_member_event
from connector.identity import find_link


def customer_id(world, shop_id: str) -> str:
    return find_link(world.services.engine, "customer", "shop", shop_id).canonical_id


def test_a_published_balance_lands_on_the_contact_and_the_member(world):
    world.shop_event("customer.created", {"id": "B-1", "email": "bonus@example.com"})
    world.settle()
    cid = customer_id(world, "B-1")

    publish_balance(world.services, cid, "42.50")
    world.settle()

    [contact] = world.contacts()
    assert float(contact["UF_CRM_BONUS_BALANCE"]) == 42.5
    [member] = world.members().values()
    assert float(member["merge_fields"]["BONUS"]) == 42.5
    assert world.dead_letters() == []


def test_a_balance_before_the_contact_exists_arrives_with_it(world):
    world.shop_event("customer.created", {"id": "B-2", "email": "early@example.com"})
    cid = customer_id_after_ingest(world, "B-2")
    publish_balance(world.services, cid, 7)
    world.settle()

    [contact] = world.contacts()
    assert float(contact["UF_CRM_BONUS_BALANCE"]) == 7.0
    assert world.dead_letters() == []


def test_a_balance_for_a_contact_deleted_in_the_crm_is_no_dead_letter_and_mailchimp_gets_it(world):
    """The deletion is a drift the reconcile repairs (the recreated contact carries the balance
    of the hub); the balance push must not die of it, nor hold up the member's balance."""
    world.shop_event("customer.created", {"id": "B-4", "email": "gone@example.com"})
    world.settle()
    cid = customer_id(world, "B-4")
    [contact] = world.contacts()
    world.crm("/act/contact", id=contact["ID"], action="delete")

    publish_balance(world.services, cid, "12")
    world.settle()

    assert world.dead_letters() == []
    assert world.contacts() == []
    assert world.writes(action="balance", system="bitrix24") == []
    [member] = world.members().values()
    assert float(member["merge_fields"]["BONUS"]) == 12.0


def customer_id_after_ingest(world, shop_id: str) -> str:
    """Runs only the inbound task, so the pushes to the systems are still waiting."""
    task = world.services.queue.claim("e2e", limit=1)[0]
    assert task.kind == "shop.customer"
    assert world.worker.execute(task)
    world.services.queue.complete(task, "e2e")
    return customer_id(world, shop_id)


def test_a_member_event_is_posted_for_journeys(world):
    world.shop_event("customer.created", {"id": "B-3", "email": "journey@example.com"})
    world.settle()
    cid = customer_id(world, "B-3")

    send_member_event(world.services, cid, "bonus_accrued", {"amount": 5, "order": "W-1"})
    world.settle()

    events = world.state("mailchimp")["events"]
    found = [e for per_member in events.values() for e in per_member]
    assert [(e["name"], e["properties"]) for e in found] == [
        ("bonus_accrued", {"amount": "5", "order": "W-1"})
    ]
