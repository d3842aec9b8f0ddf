"""Identity: the same person arriving from any system is one canonical customer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from connector.flows.hub import change_snapshot, load_snapshot, merge_values
from connector.identity import (
    customer_keys,
    find_link,
    link_of,
    resolve_customer,
    save_link,
)


def test_email_is_matched_lower_cased_and_phone_as_e164(services):
    first = resolve_customer(services.engine, "woocommerce", "25", email="Olena@Example.com")
    by_email = resolve_customer(services.engine, "shop", "C-1", email="olena@example.com")
    assert first.created and not by_email.created
    assert by_email.canonical_id == first.canonical_id

    with_phone = resolve_customer(services.engine, "shop", "C-2", phone="+380671234567")
    same_phone = resolve_customer(services.engine, "pos", None, phone="+380 67 123 45 67")
    assert same_phone.canonical_id == with_phone.canonical_id != first.canonical_id


def test_the_link_decides_before_the_keys(services):
    person = resolve_customer(services.engine, "bitrix24", "7", email="a@example.com")
    resolve_customer(services.engine, "shop", "X", email="b@example.com")
    # the CRM contact now carries another person's email: the link still names the person
    again = resolve_customer(services.engine, "bitrix24", "7", email="b@example.com")
    assert again.canonical_id == person.canonical_id


def test_a_loyalty_card_outranks_email(services):
    carded = resolve_customer(services.engine, "pos", None, card="7700123")
    resolve_customer(services.engine, "shop", "S", email="shared@example.com")
    found = resolve_customer(
        services.engine, "pos", None, email="shared@example.com", card="7700123"
    )
    assert found.canonical_id == carded.canonical_id


def test_guests_without_any_key_are_each_their_own_person(services):
    one = resolve_customer(services.engine, "woocommerce", None)
    two = resolve_customer(services.engine, "woocommerce", None)
    assert one.canonical_id != two.canonical_id


def test_people_arriving_at_once_from_many_tasks_are_still_one(services):
    ids: list[str] = []

    def arrive(n: int) -> None:
        resolved = resolve_customer(services.engine, "shop", f"S-{n}", email="rush@example.com")
        ids.append(resolved.canonical_id)

    threads = [threading.Thread(target=arrive, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1


def test_links_remember_fingerprint_version_and_merge_data(services):
    save_link(
        services.engine,
        "customer",
        "c1",
        "mailchimp",
        "a@example.com",
        fingerprint="f1",
        version="2026-01-01T00:00:00+00:00",
        data={"consent": True},
    )
    save_link(
        services.engine,
        "customer",
        "c1",
        "mailchimp",
        "b@example.com",
        data={"seen": {"total": Decimal("3.00")}},
    )
    link = link_of(services.engine, "customer", "c1", "mailchimp")
    assert link.external_id == "b@example.com"  # re-keyed, not a second link
    assert (link.fingerprint, link.version) == ("f1", "2026-01-01T00:00:00+00:00")
    assert link.data == {"consent": True, "seen": {"total": "3"}}
    assert find_link(services.engine, "customer", "mailchimp", "a@example.com") is None


def test_keys_are_normalised_and_ordered_by_strength():
    assert customer_keys(email=" A@B.com ", phone="+380 67 1", card=" 77 ") == [
        ("card", "77"),
        ("email", "a@b.com"),
        ("phone", "+380671"),
    ]
    assert customer_keys(email="not-an-email") == []


def at_once(count: int, work: Callable[[int], None]) -> None:
    """Runs `work(0)` .. `work(count - 1)` on threads released together; raises what they raise."""
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        work(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        for future in [pool.submit(run, n) for n in range(count)]:
            future.result()


def test_a_new_link_saved_at_once_by_many_tasks_keeps_every_tasks_data(services):
    at_once(
        8,
        lambda n: save_link(services.engine, "order", "o1", "bitrix24", "D-1", data={f"k{n}": "x"}),
    )
    link = link_of(services.engine, "order", "o1", "bitrix24")
    assert link is not None and link.data == {f"k{n}": "x" for n in range(8)}


def test_a_new_snapshot_changed_at_once_by_many_tasks_keeps_every_change(services):
    def change(n: int) -> None:
        with services.engine.begin() as connection:
            change_snapshot(
                connection,
                "customer",
                "c1",
                lambda before: merge_values(before, {"custom": {f"k{n}": str(n)}}),
            )

    at_once(8, change)
    snapshot = load_snapshot(services.engine, "customer", "c1")
    assert snapshot is not None
    assert snapshot["custom"] == {f"k{n}": str(n) for n in range(8)}


def test_a_long_email_fits_keys_links_and_the_audit(services):
    """RFC 5321 allows 320 characters; PostgreSQL refused anything past 200 before."""
    from connector.audit import record_write, writes

    email = f"{'x' * 64}@{'sub.' * 60}example.com"  # 319 characters
    person = resolve_customer(services.engine, "mailchimp", email, email=email)
    assert resolve_customer(services.engine, "shop", "S-1", email=email.upper()).canonical_id == (
        person.canonical_id
    )
    save_link(services.engine, "customer", person.canonical_id, "mailchimp", email)
    assert find_link(services.engine, "customer", "mailchimp", email).external_id == email
    record_write(
        services.engine, system="mailchimp", entity="member", action="update", external_id=email
    )
    assert [w["external_id"] for w in writes(services.engine, system="mailchimp")] == [email]
