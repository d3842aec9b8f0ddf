"""Stories of a person: consent decides subscription; changes in the CRM and in Mailchimp reach
the other systems; the person stays one contact and one member throughout."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARRIVALS

CONSENT_KEY = "mailchimp_woocommerce_is_subscribed"


def register(world, email: str, consent: bool | None = None, **extra) -> dict:
    body = {"email": email, "first_name": "Maria", "last_name": "Shevchenko"} | extra
    if consent is not None:
        body["meta_data"] = [{"key": CONSENT_KEY, "value": "1" if consent else "0"}]
    return world.shop("/shopper/register", **body)["customer"]


def shop_customer(world, customer_id: int) -> dict:
    return next(c for c in world.state("woocommerce")["customers"] if c["id"] == customer_id)


def meta(record: dict, key: str):
    return next((m["value"] for m in record.get("meta_data") or [] if m["key"] == key), None)


def test_only_consent_subscribes(world):
    register(world, "yes@example.com", consent=True)
    register(world, "no@example.com", consent=False)
    world.shop_event("customer.created", {"id": "S-1", "email": "pos@example.com"})
    world.settle()

    members = {m["email_address"]: m["status"] for m in world.members().values()}
    assert members == {
        "yes@example.com": "subscribed",
        "no@example.com": "transactional",
        "pos@example.com": "transactional",
    }
    customers = world.store_items("customers")
    assert {c["email_address"]: c["opt_in_status"] for c in customers.values()} == {
        "yes@example.com": True,
        "no@example.com": False,
        "pos@example.com": False,
    }
    assert len(world.contacts()) == 3
    assert world.dead_letters() == []


def test_an_unsubscribe_in_mailchimp_reaches_the_crm_and_the_shop(world):
    customer = register(world, "unsub@example.com", consent=True)
    world.settle()
    [contact] = world.contacts()
    assert contact["UF_CRM_MARKETING_CONSENT"] in ("1", 1, True, "Y")

    world.subscriber("unsub@example.com", "unsubscribe")
    world.settle()

    [contact] = world.contacts()
    assert contact["UF_CRM_MARKETING_CONSENT"] in ("0", 0, False, "N")
    assert meta(shop_customer(world, customer["id"]), CONSENT_KEY) == "0"
    [member] = world.members().values()
    assert member["status"] == "unsubscribed"  # nobody re-subscribed them
    assert world.dead_letters() == []


def test_a_cleaned_address_withdraws_consent_everywhere(world):
    register(world, "bounce@example.com", consent=True)
    world.settle()

    world.subscriber("bounce@example.com", "clean")
    world.settle()

    [contact] = world.contacts()
    assert contact["UF_CRM_MARKETING_CONSENT"] in ("0", 0, False, "N")
    assert world.members()[next(iter(world.members()))]["status"] == "cleaned"
    assert world.dead_letters() == []


def test_an_email_change_in_mailchimp_moves_the_person_not_copies_them(world):
    customer = register(world, "old@example.com", consent=True)
    world.settle()

    world.subscriber("old@example.com", "email", new_email="new@example.com")
    world.settle()

    [contact] = world.contacts()
    assert [e["VALUE"] for e in contact["EMAIL"]] == ["new@example.com"]
    assert shop_customer(world, customer["id"])["email"] == "new@example.com"
    assert [m["email_address"] for m in world.members().values()] == ["new@example.com"]
    assert world.dead_letters() == []


def test_a_profile_edit_in_mailchimp_reaches_the_crm(world):
    register(world, "profile@example.com", consent=True)
    world.settle()

    world.subscriber("profile@example.com", "profile", merge_fields={"FNAME": "Marusia"})
    world.settle()

    [contact] = world.contacts()
    assert contact["NAME"] == "Marusia"
    assert world.dead_letters() == []


def test_a_contact_edited_in_the_crm_updates_shop_and_mailchimp_for_fields_it_owns(world):
    customer = register(world, "crm@example.com", consent=True)
    world.settle()
    [contact] = world.contacts()
    writes_before = len(world.writes(system="bitrix24", entity="contact"))

    world.next_second()
    world.crm("/act/contact", id=int(contact["ID"]), fields={"NAME": "Mariia", "COMMENTS": "vip"})
    world.settle()

    assert shop_customer(world, customer["id"])["first_name"] == "Mariia"
    [member] = world.members().values()
    assert member["merge_fields"]["FNAME"] == "Mariia"
    # the CRM is not written back: its own change is not bounced
    assert len(world.writes(system="bitrix24", entity="contact")) == writes_before
    assert world.dead_letters() == []


@pytest.mark.parametrize("arrival", ARRIVALS)
def test_a_name_the_crm_changed_wins_over_the_shops_change_meanwhile(world, arrival):
    customer = register(world, "both@example.com", consent=False)
    world.settle()
    [contact] = world.contacts()

    world.next_second()
    world.hold_webhooks()
    world.crm("/act/contact", id=int(contact["ID"]), fields={"NAME": "Mariia"})
    # the shop admin edits the customer through the REST API (the sandbox fires customer.updated)
    world.services.woocommerce.update_customer(customer["id"], {"first_name": "Masha"})
    world.wait_deliveries()
    world.deliver_in_turn(*ARRIVALS[arrival])

    assert world.contacts()[0]["NAME"] == "Mariia"  # `owner: bitrix24` in the contact mapping
    assert shop_customer(world, customer["id"])["first_name"] == "Mariia"
    assert world.dead_letters() == []
