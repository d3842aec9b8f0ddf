"""Bitrix24 reconciliation (against the emulator): what lost events missed becomes RECONCILE
tasks; offline events are enqueued and confirmed only once the enqueue committed."""

from __future__ import annotations

import time

import pytest

from connector.sync.bitrix24 import ModifiedScan, OfflineEvents
from connector.sync.cursors import read_cursor
from connector.sync.polling import poll_once
from connector.sync.streams import run_stream
from connector.systems.bitrix24 import Bitrix24Client, MemoryTokenStore, OAuthConnection
from connector.systems.bitrix24 import events as ev
from connector.systems.bitrix24.client import AUTH_CONNECTOR
from tests.sync.conftest import queued


def manager_edits(sandbox, kind: str, **body) -> str:
    answer = sandbox.control("bitrix24", "POST", f"/act/{kind}", json=body)
    answer.raise_for_status()
    return answer.json()["id"]


def test_reconciliation_enqueues_changed_deals_once(shop_services, fresh_sandbox):
    client = shop_services.bitrix24
    deals = [client.add_deal({"TITLE": f"Deal {n}"}) for n in range(3)]

    first = poll_once(shop_services, "bitrix24", "deals", lookback=900)
    tasks = queued(shop_services, "bitrix24.event")
    assert first.enqueued == 3
    assert [t["payload"]["id"] for t in tasks] == [str(d) for d in deals]
    deal = client.get_deal(deals[0])
    assert tasks[0]["payload"] == {
        "event": "RECONCILE",
        "entity": "deal",
        "id": str(deals[0]),
        "ts": deal["DATE_MODIFY"],
    }
    assert tasks[0]["ordering_key"] == f"deal:bitrix24:{deals[0]}"
    assert "since" in read_cursor(shop_services.engine, "bitrix24", "deals")

    assert poll_once(shop_services, "bitrix24", "deals", lookback=900).enqueued == 0

    time.sleep(1.05)  # DATE_MODIFY has one-second resolution
    manager_edits(fresh_sandbox, "deal", id=str(deals[1]), fields={"TITLE": "Edited"})
    third = poll_once(shop_services, "bitrix24", "deals", lookback=900)
    assert third.read == 3 and third.enqueued == 1
    assert queued(shop_services, "bitrix24.event")[-1]["payload"]["id"] == str(deals[1])


def test_reconciliation_pages_by_id_and_resumes_inside_a_window(shop_services):
    client = shop_services.bitrix24
    client.add_contacts({"fields": {"NAME": f"C{n}"}} for n in range(120))
    ids = [int(row["ID"]) for row in client.list_all("crm.contact.list", select=["ID"])]
    stream = ModifiedScan(client, "contacts")
    pages = stream.pages(None)
    first = next(pages)
    assert len(first.tasks) == 50 and first.bookmark["after"] == ids[49]
    # a crash after the first page: the next run continues in the same window after its last ID
    resumed = list(ModifiedScan(client, "contacts").pages(first.bookmark))
    assert [len(p.tasks) for p in resumed] == [50, len(ids) - 100]
    assert resumed[-1].bookmark.keys() == {"since"}
    assert resumed[0].tasks[0].payload["id"] == str(ids[50])


@pytest.fixture
def app_client(fresh_sandbox):
    installed = fresh_sandbox.control("bitrix24", "POST", "/oauth/install", json={}).json()
    connection = OAuthConnection(
        "local.sandbox0000000000.00000000",
        "sandboxclientsecret",
        MemoryTokenStore(dict(installed)),
        oauth_url=fresh_sandbox.urls["bitrix24"],
    )
    client = Bitrix24Client(connection)
    ev.bind_offline(client, ev.SYNC_EVENTS)
    return client


def test_offline_events_are_enqueued_then_confirmed(shop_services, fresh_sandbox, app_client):
    contact = manager_edits(fresh_sandbox, "contact", action="add", fields={"NAME": "Ann"})
    outcome = run_stream(shop_services.queue, OfflineEvents(app_client))
    [task] = queued(shop_services, "bitrix24.event")
    assert outcome.enqueued == 1
    assert task["payload"]["event"] == "ONCRMCONTACTADD" and task["payload"]["id"] == contact
    assert task["ordering_key"] == f"contact:bitrix24:{contact}"
    assert ev.read_offline(app_client).events == []
    assert app_client.call("event.offline.list", {"auth_connector": AUTH_CONNECTOR}) == []


def test_offline_events_are_kept_when_the_enqueue_fails(
    shop_services, fresh_sandbox, app_client, monkeypatch
):
    manager_edits(fresh_sandbox, "deal", action="add", fields={"TITLE": "Walk-in"})
    queue = shop_services.queue
    real = queue.enqueue_many

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(queue, "enqueue_many", broken)
    with pytest.raises(OSError):
        run_stream(queue, OfflineEvents(app_client))
    assert queued(shop_services) == []

    monkeypatch.setattr(queue, "enqueue_many", real)
    outcome = run_stream(queue, OfflineEvents(app_client))  # the set-aside batch comes back
    assert outcome.enqueued == 1
    assert queued(shop_services)[0]["payload"]["event"] == "ONCRMDEALADD"
    assert app_client.call("event.offline.list", {"auth_connector": AUTH_CONNECTOR}) == []
