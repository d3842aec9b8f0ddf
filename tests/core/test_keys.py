"""Every queue key comes from connector.keys, spelled as the tasks already queued spell it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector import keys

ROOT = Path(__file__).resolve().parents[2]

# helper call -> the literal key today's queued tasks carry (a change here orphans them)
SPELLED = [
    (keys.record("deal", "bitrix24", 42), "deal:bitrix24:42"),
    (keys.record("contact", "bitrix24", "7"), "contact:bitrix24:7"),
    (keys.record("order", "woocommerce", 12), "order:woocommerce:12"),
    (keys.record("customer", "shop", "c-1"), "customer:shop:c-1"),
    (keys.record("shipment", "cdek", "u-1"), "shipment:cdek:u-1"),
    (keys.member("Ann@Example.COM"), "member:mailchimp:ann@example.com"),
    (keys.loyalty_customer("c9"), "customer:loyalty:c9"),
    (keys.loyalty_customer(None), "customer:loyalty:None"),
    (keys.shipment_of_order("o1"), "shipment:order:o1"),
    (keys.balance("c9"), "balance:c9"),
    (keys.job("nightly"), "job:nightly"),
    (
        keys.synced("bitrix24", "deal", 5, "2024-01-01T00:00:00"),
        "sync:bitrix24:deal:5:2024-01-01T00:00:00",
    ),
    (keys.offline_event("bitrix24", 31, "1.5"), "offline:bitrix24:31:1.5"),
    (keys.imported("pos", "order", "R-1"), "import:pos:order:R-1"),
    (keys.job_bucket("nightly", 19000), "job:nightly:19000"),
    (keys.loyalty_event("o1", "paid", "v3"), "loyalty:o1:paid:v3"),
    (keys.loyalty_event("o1", "delivered", "shipment"), "loyalty:o1:delivered:shipment"),
    (keys.delivery("woocommerce", "o1", "N-5"), "delivery:woocommerce:o1:N-5"),
    (
        keys.delivery("bitrix24", "o1", "cdek", "delivered", "t"),
        "delivery:bitrix24:o1:cdek:delivered:t",
    ),
    (keys.delivery("event", "o1", "cdek", "lost"), "delivery:event:o1:cdek:lost"),
    (keys.delivery_registration("o1"), "delivery:register:o1"),
    (keys.balance_bucket("c9", 77), "balance:c9:77"),
    (keys.bonus_expiring("c9", "2024-05-01"), "bonus_expiring:c9:2024-05-01"),
    (keys.contact_for_deal(101), "contact-for-deal:101"),
    (keys.reconcile("r1", "push.bitrix24.deal", "ab12"), "reconcile:r1:push.bitrix24.deal:ab12"),
    (keys.telegram_crm("c9"), "telegram-crm:c9"),
    (keys.telegram_crm_bucket("telegram.crm_link", "c9", 7), "telegram.crm_link:c9:7"),
    (keys.catalogue_stock("pos", "R-1", 55), "catalogue:stock:pos:R-1:55"),
]


@pytest.mark.parametrize(("built", "spelled"), SPELLED, ids=[s for _, s in SPELLED])
def test_each_key_helper_spells_the_key_already_queued_tasks_carry(
    built: str, spelled: str
) -> None:
    assert built == spelled


HAND_MADE = re.compile(r"""(ordering_key|dedupe_key)\s*=\s*f["']""")


def test_no_module_formats_an_ordering_or_dedupe_key_by_hand() -> None:
    offenders = []
    paths = [
        *(ROOT / "connector").rglob("*.py"),
        *(ROOT / "jobs").rglob("*.py"),
        ROOT / "webhooks.py",
    ]
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if HAND_MADE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
