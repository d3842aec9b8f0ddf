"""Small portal-wide methods a client uses to check its connection: time, user, scopes, app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import timefmt


def server_time(call: Any) -> str | None:
    return timefmt.iso(call.portal.state.now(), call.portal.config.utc_offset_hours)


def _user(call: Any) -> dict[str, Any]:
    offset = call.portal.config.utc_offset_hours
    return {
        "ID": str(call.caller.user_id),
        "ACTIVE": True,
        "NAME": "Sandbox",
        "LAST_NAME": "Administrator",
        "EMAIL": "admin@sandbox.invalid",
        "IS_ONLINE": "Y",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": offset * 3600,
        "UF_DEPARTMENT": [1],
    }


def profile(call: Any) -> dict[str, Any]:
    user = _user(call)
    return {
        "ID": user["ID"],
        "ADMIN": call.caller.is_admin,
        "NAME": user["NAME"],
        "LAST_NAME": user["LAST_NAME"],
        "PERSONAL_GENDER": "",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": user["TIME_ZONE_OFFSET"],
    }


def scope(call: Any) -> list[str]:
    return list(call.portal.config.scopes)


def methods_list(call: Any) -> list[str]:
    return sorted(call.portal.methods)


def app_info(call: Any) -> dict[str, Any]:
    cfg = call.portal.config
    return {
        "ID": 1,
        "CODE": cfg.client_id,
        "VERSION": 1,
        "STATUS": "L",
        "INSTALLED": True,
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": "en",
        "LICENSE": "en_project",
        "LICENSE_TYPE": "project",
        "LICENSE_FAMILY": "project",
    }


def methods() -> dict[str, Callable[[Any], Any]]:
    return {
        "server.time": server_time,
        "user.current": _user,
        "profile": profile,
        "scope": scope,
        "methods": methods_list,
        "app.info": app_info,
    }
