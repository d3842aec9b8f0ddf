"""The per-portal dispatcher: single commands of many threads share `batch` calls, and each
caller gets its own answer. Run against the sandbox portal, which counts what it was asked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector.errors import PermanentError
from connector.systems.bitrix24 import Bitrix24Client, Plan, WebhookConnection
from connector.systems.bitrix24.batch import Command
from connector.systems.bitrix24.dispatcher import placed


@pytest.fixture
def portal(fresh_sandbox: Any) -> Iterator[Callable[..., Bitrix24Client]]:
    """Builds dispatching clients of the fresh sandbox portal; closes them after the test."""
    made: list[Bitrix24Client] = []

    def build(**options: Any) -> Bitrix24Client:
        options.setdefault("plan", Plan(rate=2.0, burst=1, jitter=0.0))
        client = Bitrix24Client(
            WebhookConnection(fresh_sandbox.bitrix24_webhook_url()), dispatch=True, **options
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


def calls(sandbox: Any) -> dict[str, Any]:
    return sandbox.control("bitrix24", "GET", "/calls").json()


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Runs `work(i)` in `count` threads started together; returns each result or error."""
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test looks at each thread's outcome
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def add_contact(client: Bitrix24Client, index: int) -> int:
    return client.add_contact({"NAME": f"Thread {index}"}, phones=[f"+38050{index:07d}"])


def test_commands_of_many_threads_arrive_in_one_batch_call(portal, fresh_sandbox):
    client = portal()
    add_contact(client, 999)  # takes the bucket's only slot: the next request must wait
    ids = in_threads(20, lambda i: add_contact(client, i))
    assert all(isinstance(found, int) for found in ids), ids
    assert len(set(ids)) == 20
    asked = calls(fresh_sandbox)
    assert asked["contacts"] == 21
    assert asked["commands_by_method"]["crm.contact.add"] == 21
    # the lone first call plus the 20 that waited for the next slot together
    assert asked["requests"] == 2, asked
    assert client.dispatcher is not None and client.dispatcher.stats.largest == 20


def test_a_command_that_fails_inside_a_batch_fails_only_its_caller(portal, fresh_sandbox):
    client = portal()
    add_contact(client, 999)

    def work(index: int) -> Any:
        if index == 0:
            return client.get_deal(424242)  # no such deal
        return add_contact(client, index)

    outcomes = in_threads(8, work)
    assert isinstance(outcomes[0], PermanentError)
    assert all(isinstance(found, int) for found in outcomes[1:]), outcomes
    asked = calls(fresh_sandbox)
    assert asked["contacts"] == 8
    assert asked["requests"] == 2, asked  # the failing read rode in the same batch call


def test_a_lone_caller_is_answered_without_waiting_for_company(portal, fresh_sandbox):
    client = portal(plan=Plan(rate=50.0, burst=50), dispatch_window=5.0)
    for index in range(3):
        add_contact(client, index)  # a 5 s window would make this test take 15 s
    assert calls(fresh_sandbox)["requests"] == 3


def test_list_answers_keep_their_total_through_the_dispatcher(portal, fresh_sandbox):
    client = portal(plan=Plan(rate=50.0, burst=50))
    for index in range(3):
        add_contact(client, index)
    answer = client.call_raw("crm.contact.list", {"select": ["ID"], "start": 0})
    assert answer["total"] == 3
    assert [row["ID"] for row in answer["result"]] == ["1", "2", "3"]


def test_without_the_dispatcher_each_command_is_its_own_request(fresh_sandbox):
    client = Bitrix24Client(
        WebhookConnection(fresh_sandbox.bitrix24_webhook_url()), plan=Plan(rate=50.0, burst=50)
    )
    try:
        in_threads(5, lambda i: add_contact(client, i))
    finally:
        client.close()
    asked = calls(fresh_sandbox)
    assert asked["requests"] == 5 and asked["requests_by_method"] == {"crm.contact.add": 5}


def test_deals_added_with_their_rows_by_many_threads_share_one_request_each_rows_on_its_deal(
    portal, fresh_sandbox
):
    client = portal()
    add_contact(client, 999)  # takes the only slot: the next request gathers every chain

    def add_deal(index: int) -> tuple[int, Any]:
        rows = [{"PRODUCT_NAME": f"Item {index}", "PRICE": 10 + index, "QUANTITY": 1}]
        deal_id, rows_done = client.add_deal_with_rows({"TITLE": f"Order {index}"}, rows)
        return deal_id, rows_done.unwrap()

    made = in_threads(12, add_deal)
    assert all(isinstance(found, tuple) for found in made), made
    asked = calls(fresh_sandbox)
    assert asked["requests"] == 2, asked  # the contact, then all twelve deals and their rows
    assert asked["deals"] == 12 and asked["deals_with_rows"] == 12
    for index, (deal_id, _) in enumerate(made):  # each chain's reference named its own deal
        [row] = client.get_product_rows(deal_id)
        assert row["PRODUCT_NAME"] == f"Item {index}"
        assert client.get_deal(deal_id)["TITLE"] == f"Order {index}"


def test_a_chain_is_never_split_between_two_batches(portal, fresh_sandbox):
    client = portal()
    dispatcher = client.dispatcher
    assert dispatcher is not None
    dispatcher.limit = 3  # room for one chain of two, not two
    add_contact(client, 999)
    made = in_threads(
        3, lambda i: client.add_deal_with_rows({"TITLE": f"D{i}"}, [{"PRODUCT_NAME": f"P{i}"}])
    )
    for index, (deal_id, rows_done) in enumerate(made):
        assert rows_done.error is None, rows_done.error
        assert client.get_product_rows(deal_id)[0]["PRODUCT_NAME"] == f"P{index}"
    assert dispatcher.stats.largest <= 3


def test_a_chain_reference_is_named_where_the_chain_lands_in_the_batch():
    command = Command(
        "crm.deal.productrows.set", {"id": "$result[@0]", "rows": [{"NOTE": "$result[@1][ID]"}]}
    )
    moved = placed(command, 7)
    assert moved.params == {"id": "$result[c7]", "rows": [{"NOTE": "$result[c8][ID]"}]}
    assert command.params["id"] == "$result[@0]"  # the queued command is left as it was
