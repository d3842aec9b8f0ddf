"""The webhook tests' app: every source's credentials set (tests/webhooks/credentials.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.app import create_app
from connector.services import Services
from tests.support import make_settings
from tests.webhooks.credentials import B24_TOKEN, CDEK_SECRET, MC_SECRET, SHOP_SECRET, WC_SECRET


@pytest.fixture
def services(tmp_path: Path):
    built = Services(
        make_settings(
            tmp_path,
            woocommerce_webhook_secret=WC_SECRET,
            shop_webhook_secret=SHOP_SECRET,
            bitrix24_application_token=B24_TOKEN,
            mailchimp_webhook_secret=MC_SECRET,
            cdek_webhook_secret=CDEK_SECRET,
            webhook_max_bytes=200_000,
        )
    )
    yield built
    built.close()


@pytest.fixture
def client(services: Services):
    return create_app(services).test_client()
