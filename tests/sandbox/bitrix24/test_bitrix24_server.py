"""The emulator behind a real threaded HTTP server, as the sandbox runner serves it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

from connector_sandbox.bitrix24 import Bitrix24Config, create_app

from .conftest import FakeClock


@pytest.fixture
def served(clock: FakeClock) -> Iterator[str]:
    app = create_app({"clock": clock})  # the runner may hand settings over as a dict
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_parallel_clients_share_one_bucket_exactly(served: str) -> None:
    session = requests.Session()
    session.trust_env = False
    url = f"{served}/rest/1/sandboxtoken/crm.contact.list.json"
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: session.post(url, json={}).status_code, range(60)))
    assert codes.count(200) == 50 and codes.count(503) == 10


def test_token_answers_point_back_at_the_server(served: str) -> None:
    session = requests.Session()
    session.trust_env = False
    config = Bitrix24Config()
    answer = session.post(
        f"{served}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "refresh_token": config.initial_refresh_token,
        },
    ).json()
    assert answer["client_endpoint"] == f"{served}/rest/"
    listed = session.get(
        f"{answer['client_endpoint']}crm.deal.list", params={"auth": answer["access_token"]}
    )
    assert listed.status_code == 200 and listed.json()["total"] == 0
