"""The Telegram start link in the CRM: each unbound customer's Bitrix24 contact holds a link
that binds her chat (CONNECTOR_TELEGRAM_CRM_FIELD), renewed before it expires and emptied once
she binds the chat, against the Bitrix24 and Telegram emulators."""

from __future__ import annotations

from connector.identity import save_link
from connector.systems.telegram.channel import CHANNEL
from connector.systems.telegram.crm import due
from connector.systems.telegram.setup import setup_telegram
from connector.worker import Worker
from tests.channels.sends import emulator_settings, served, work_until

FIELD = "UF_CRM_TELEGRAM_LINK"


def test_an_unbound_customers_contact_gets_a_start_link_that_is_emptied_once_she_binds(
    tmp_path, sandbox
):
    sandbox.reset()
    settings = emulator_settings(
        tmp_path, sandbox, "telegram", "bitrix24", telegram_crm_field=FIELD
    )
    with served(settings) as services:
        lines = setup_telegram(services.client("telegram"), services.settings, services.bitrix24)
        assert lines[-1] == f"Bitrix24 contact field {FIELD}: created (start links, hourly)"
        contact = services.bitrix24.add_contact({"NAME": "Olena"})
        save_link(services.engine, "customer", "c1", "bitrix24", contact)
        worker = Worker(services, threads=1)

        services.queue.enqueue("telegram.crm_links", {})  # the hourly job's task
        worker.run_until_idle()
        link = services.bitrix24.get_contact(contact)[FIELD]
        assert link.startswith("https://t.me/sandbox_shop_bot?start=")
        assert due(services, services.queue.clock()) == []  # valid for 30 days: not renewed
        later = services.queue.clock() + 29.5 * 86400
        assert due(services, later) == ["c1"]  # a day before it expires: renewed

        token = link.rsplit("=", 1)[1]
        sandbox.control("telegram", "POST", "/start", json={"token": token})
        work_until(worker, lambda: services.bitrix24.get_contact(contact)[FIELD] == "")
        assert CHANNEL.address(services, {"id": "c1"}) is not None
        assert due(services, later) == []  # bound: no link to offer any more
