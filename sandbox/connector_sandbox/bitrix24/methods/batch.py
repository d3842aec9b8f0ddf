"""``batch``: up to 50 commands in one HTTP request, in order, with halt and $result[...].

https://apidocs.bitrix24.com/settings/how-to-call-rest-api/batch.html; shapes from
specs/bitrix24/responses/batch*.json (empty sections print as ``[]``, numeric ids as arrays, as
PHP's ``json_encode`` does). An unresolved ``$result[...]`` stays as plain text, like on the portal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import errors
from ..params import as_bool, decode_query, pick

MAX_COMMANDS = 50
_REFERENCE = re.compile(r"\$result((?:\[[^\]]*\])+)")
_MISSING = object()


def php_array(section: dict[str, Any]) -> Any:
    """A PHP array as json_encode prints it: ``[]`` when empty, a list when keys are 0..n-1."""
    if not section:
        return []
    if list(section) == [str(i) for i in range(len(section))]:
        return list(section.values())
    return section


def _lookup(results: dict[str, Any], path: str) -> Any:
    node: Any = results
    for key in re.findall(r"\[([^\]]*)\]", path):
        if isinstance(node, dict):
            node = node.get(key, _MISSING)
        elif (
            isinstance(node, list)
            and key.lstrip("-").isdigit()
            and -len(node) <= int(key) < len(node)
        ):
            node = node[int(key)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if not isinstance(value, str) or "$result" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        found = _lookup(results, whole.group(1))
        return value if found is _MISSING else found

    def replace(match: re.Match[str]) -> str:
        found = _lookup(results, match.group(1))
        if found is _MISSING or isinstance(found, dict | list):
            return match.group(0)
        return str(found)

    return _REFERENCE.sub(replace, value)


def _commands(cmd: Any) -> list[tuple[str, str]]:
    if isinstance(cmd, list):
        return [(str(i), str(c)) for i, c in enumerate(cmd)]
    if isinstance(cmd, dict):
        return [(str(k), str(v)) for k, v in cmd.items()]
    return []


def batch(call: Any) -> dict[str, Any]:
    commands = _commands(pick(call.params, "cmd"))
    if len(commands) > MAX_COMMANDS:
        raise errors.ApiError("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    halt = as_bool(pick(call.params, "halt"))
    results: dict[str, Any] = {}
    failures: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    nexts: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for key, command in commands:
        method, _, query = command.partition("?")
        method = method.strip()
        if method.lower().endswith(".json"):
            method = method[: -len(".json")]
        params = _substitute(decode_query(query), results)
        if call.connector and "auth_connector" not in params:
            params["auth_connector"] = call.connector
        params.pop("auth", None)
        try:
            if method.lower() == "batch":
                raise errors.ApiError(
                    "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405
                )
            body = call.portal.call(call.caller, method, params)
        except errors.ApiError as refusal:
            failures[key] = refusal.body()
            if halt:
                break
            continue
        results[key] = body["result"]
        if "total" in body:
            totals[key] = body["total"]
        if "next" in body:
            nexts[key] = body["next"]
        times[key] = body["time"]
    return {
        "result": php_array(results),
        "result_error": php_array(failures),
        "result_total": php_array(totals),
        "result_next": php_array(nexts),
        "result_time": php_array(times),
    }


def methods() -> dict[str, Callable[[Any], Any]]:
    return {"batch": batch}
