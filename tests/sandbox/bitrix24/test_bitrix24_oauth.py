"""OAuth: calls with auth=, expired_token after an hour, a refresh that rotates both tokens."""

from __future__ import annotations

from urllib.parse import urlencode

from connector_sandbox.bitrix24 import Bitrix24Config

from .conftest import FakeClock, Portal, spec


def _refresh(portal: Portal, refresh_token: str, secret: str | None = None):
    config: Bitrix24Config = portal.app.extensions["bitrix24"].config
    query = urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": secret or config.client_secret,
            "refresh_token": refresh_token,
        }
    )
    return portal.client.get(f"/oauth/token/?{query}")


def test_the_app_calls_rest_with_its_access_token(portal: Portal) -> None:
    state = portal.app.extensions["bitrix24"].state
    by_query = portal.client.get(f"/rest/crm.contact.list.json?auth={state.current_access_token}")
    assert by_query.status_code == 200 and by_query.get_json()["total"] == 0
    by_form = portal.client.post(
        "/rest/crm.contact.add", data={"auth": state.current_access_token, "fields[NAME]": "Ann"}
    )
    assert by_form.get_json()["result"] == 1
    unknown = portal.oauth("crm.contact.list", token="not-a-token")
    assert unknown.status_code == 401
    assert unknown.get_json() == spec("errors/error.NO_AUTH_FOUND.401.json")


def test_token_expires_after_an_hour_and_refresh_rotates_both_tokens(
    portal: Portal, clock: FakeClock
) -> None:
    state = portal.app.extensions["bitrix24"].state
    old_access, old_refresh = state.current_access_token, state.current_refresh_token
    clock.advance(3599)
    assert portal.oauth("crm.deal.list", token=old_access).status_code == 200
    clock.advance(1)
    expired = portal.oauth("crm.deal.list", token=old_access)
    assert expired.status_code == 401
    assert expired.get_json() == spec("errors/error.expired_token.401.json")

    answer = _refresh(portal, old_refresh)
    assert answer.status_code == 200
    tokens = answer.get_json()
    assert set(tokens) == set(spec("oauth/token.refresh_token.response.json"))
    assert tokens["expires_in"] == 3600 and tokens["expires"] == int(clock.now + 3600)
    assert tokens["access_token"] != old_access and tokens["refresh_token"] != old_refresh
    assert tokens["client_endpoint"].endswith("/rest/")
    assert portal.oauth("crm.deal.list", token=tokens["access_token"]).status_code == 200

    reused = _refresh(portal, old_refresh)
    assert reused.status_code == 400 and reused.get_json()["error"] == "invalid_grant"


def test_control_api_expires_the_current_token(portal: Portal) -> None:
    token = portal.control("POST", "oauth/expire")["expired"]
    response = portal.oauth("crm.contact.list", token=token)
    assert response.get_json()["error"] == "expired_token"


def test_refresh_with_a_wrong_secret_is_refused(portal: Portal) -> None:
    state = portal.app.extensions["bitrix24"].state
    answer = _refresh(portal, state.current_refresh_token, secret="wrong")
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


def test_authorization_code_lives_thirty_seconds(portal: Portal, clock: FakeClock) -> None:
    config = portal.app.extensions["bitrix24"].config
    code = portal.client.get(f"/oauth/authorize/?client_id={config.client_id}&state=s1").get_json()
    assert code["state"] == "s1" and code["member_id"] == config.member_id
    query = {
        "grant_type": "authorization_code",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "code": code["code"],
    }
    tokens = portal.client.get(f"/oauth/token/?{urlencode(query)}").get_json()
    assert set(tokens) == set(spec("oauth/token.authorization_code.response.json"))
    late = portal.client.get(f"/oauth/authorize/?client_id={config.client_id}").get_json()
    clock.advance(31)
    refused = portal.client.get(f"/oauth/token/?{urlencode({**query, 'code': late['code']})}")
    assert refused.get_json()["error"] == "invalid_grant"


def test_event_methods_need_the_app_context(portal: Portal) -> None:
    body = portal.call(
        "event.bind", {"event": "ONCRMDEALADD", "handler": "https://x.example/h"}, status=403
    )
    assert body == {
        "error": "WRONG_AUTH_TYPE",
        "error_description": "Current authorization type is denied for this method",
    }
    assert (
        portal.oauth("event.bind", {"event": "ONCRMDEALADD", "handler": "https://x/h"}).get_json()[
            "result"
        ]
        is True
    )
