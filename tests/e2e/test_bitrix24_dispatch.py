"""Orders through the per-portal dispatcher (on by default): batching never changes what is
written, and a task that dies while its command waits in the dispatcher is run again without a
second deal."""

from __future__ import annotations

import time
from typing import Any

from connector.flows.balance import publish_balance
from connector.identity import find_link
from connector.systems.bitrix24.batch import Command, CommandResult
from connector.systems.bitrix24.dispatcher import Dispatcher


class Killed(Exception):
    """The task's thread is gone; the command it queued is sent all the same."""


def test_the_connector_talks_to_bitrix24_through_the_dispatcher(world):
    assert world.services.bitrix24.dispatcher is not None
    world.guest_order("batched@example.com", "+380501110000", pay=True)
    world.settle()
    calls = world.sandbox.control("bitrix24", "GET", "/calls").json()
    assert calls["deals"] == 1 and calls["deals_with_rows"] == 1
    # every single command went out inside a `batch` call
    assert set(calls["requests_by_method"]) == {"batch"}, calls["requests_by_method"]
    assert world.dead_letters() == []


def test_a_task_killed_while_its_deal_add_waits_is_retried_without_a_duplicate(world, monkeypatch):
    sent_and_abandoned: list[CommandResult] = []
    submit_chain = Dispatcher.submit_chain

    def dies_once(self: Dispatcher, commands: list[Command]) -> Any:
        futures = submit_chain(self, commands)  # queued: the dispatcher sends it whatever happens
        if commands[0].method == "crm.deal.add" and not sent_and_abandoned:
            sent_and_abandoned.append(futures[0].result())
            raise Killed("worker thread gone before the answer was read")
        return futures

    monkeypatch.setattr(Dispatcher, "submit_chain", dies_once)
    world.guest_order("killed@example.com", "+380501110001", pay=True)
    world.settle()

    assert sent_and_abandoned and sent_and_abandoned[0].ok  # the first add made a deal
    calls = world.sandbox.control("bitrix24", "GET", "/calls").json()
    assert calls["deals"] == 1, "the retried task must find the deal, not make another"
    assert calls["commands_by_method"]["crm.deal.add"] == 1
    assert calls["commands_by_method"]["crm.deal.list"] == 1  # the ORIGIN_ID search, once
    assert calls["deals_with_rows"] == 1
    deal = world.deals()[0]
    pushes = world.tasks_of("push.bitrix24.deal")
    assert [task["attempts"] for task in pushes] == [2]
    assert deal["ID"] == str(sent_and_abandoned[0].result)
    assert world.dead_letters() == []


def test_an_order_never_seen_costs_no_deal_lookup(world):
    world.guest_order("fresh@example.com", "+380501110002", pay=True)
    world.settle()
    calls = world.sandbox.control("bitrix24", "GET", "/calls").json()
    by_method = calls["commands_by_method"]
    assert by_method["crm.deal.add"] == 1
    assert "crm.deal.list" not in by_method  # no ORIGIN_ID search before a first add
    # the ADD events of the contact and the deal we made are dropped unread
    assert by_method.get("crm.contact.get", 0) <= by_method.get("crm.contact.update", 0)


class Shifted:
    """The real time plus a shift the story moves forward (the debounce buckets close)."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


def test_a_first_orders_contact_is_created_whole_so_balance_and_figures_cost_no_update(world):
    clock = Shifted()
    world.services.queue.clock = clock
    world.guest_order("whole@example.com", "+380501110003", pay=True)
    world.settle()
    clock.shift = 60  # the balance and figures publications, debounced, come due
    world.settle()

    calls = world.sandbox.control("bitrix24", "GET", "/calls").json()
    assert calls["commands_by_method"]["crm.contact.add"] == 1
    assert "crm.contact.update" not in calls["commands_by_method"]
    [contact] = world.contacts()
    assert float(contact["UF_CRM_BONUS_BALANCE"]) == 0  # the first order's bonus is pending
    assert contact["UF_CRM_RFM_SEGMENT"]
    assert contact["UF_CRM_RFM_SCORE"]
    # the pushes ran, found the contact already holding their values, and wrote nothing
    assert [t["state"] for t in world.tasks_of("push.bitrix24.balance")] == ["done"]
    assert [t["state"] for t in world.tasks_of("push.bitrix24.figures")] == ["done"]
    assert world.writes(system="bitrix24", action="balance") == []
    assert world.writes(system="bitrix24", action="figures") == []

    # a balance that does change is written, once
    cid = find_link(world.services.engine, "customer", "bitrix24", contact["ID"]).canonical_id
    publish_balance(world.services, cid, 25)
    world.settle()
    [contact] = world.contacts()
    assert float(contact["UF_CRM_BONUS_BALANCE"]) == 25
    calls = world.sandbox.control("bitrix24", "GET", "/calls").json()
    assert calls["commands_by_method"]["crm.contact.update"] == 1
    assert world.dead_letters() == []


def test_a_deal_push_that_runs_before_its_contact_waits_until_the_contact_wakes_it(world):
    queue = world.services.queue
    world.guest_order("early@example.com", "+380501110004", pay=True)
    world.wait_deliveries()
    held: dict[str, Any] = {}
    while not {"push.bitrix24.deal", "push.bitrix24.contact"} <= set(held):
        claimed = queue.claim("e2e", limit=50)
        assert claimed, "the order never queued its pushes"
        for task in claimed:
            if task.kind in ("push.bitrix24.deal", "push.bitrix24.contact"):
                held[task.kind] = task
            elif task.kind == "woocommerce.order":
                assert world.worker.execute(task)
                queue.complete(task, "e2e")
            else:
                queue.release([task], "e2e")
    deal, contact = held["push.bitrix24.deal"], held["push.bitrix24.contact"]

    assert not world.worker.execute(deal)  # no contact yet: it waits, a long wait
    assert queue.get(deal.id)["run_at"] > time.time() + 1
    assert world.worker.execute(contact)
    queue.complete(contact, "e2e")
    assert queue.get(deal.id)["run_at"] <= time.time()  # woken by the contact's link

    world.settle()
    [made] = world.deals()
    [person] = world.contacts()
    assert made["CONTACT_ID"] == person["ID"]
    # the pending contact push was enough: the deal queued no second one
    assert len(world.tasks_of("push.bitrix24.contact")) == 1
    assert world.dead_letters() == []
