"""Packing commands into Bitrix24 `batch` calls and reading back one result or error per command.

Rules (research/bitrix24.md section 3, docs `settings/how-to-call-rest-api/batch.md`):
at most 50 commands; each command is `method?query` with a PHP `http_build_query` query string;
the answer is HTTP 200 even when commands fail, with errors under `result_error[id]`, and empty
sections come back as `[]` instead of `{}`. A failed command must not fail its 49 neighbours,
so every command gets its own `CommandResult`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from connector.errors import ConnectorError, TransientError
from connector.systems.bitrix24.errors import error_from_payload

BATCH_LIMIT = 50


class CommandNotRun(TransientError):
    """The batch stopped (`halt`) before this command ran: safe to send again."""


@dataclass(frozen=True)
class Command:
    """One REST call to run inside a batch."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class CommandResult:
    """What one command of a batch returned: `result` on success, a typed `error` otherwise."""

    command: Command
    result: Any = None
    error: ConnectorError | None = None
    total: int | None = None
    next: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> Any:
        """The result, or the command's typed error raised."""
        if self.error is not None:
            raise self.error
        return self.result


def raise_for_errors(results: Iterable[CommandResult]) -> None:
    """Raises the first command error, for callers that need all-or-error semantics."""
    for item in results:
        if item.error is not None:
            raise item.error


def as_command(command: Command | tuple[str, Mapping[str, Any]] | str) -> Command:
    if isinstance(command, Command):
        return command
    if isinstance(command, str):
        return Command(command)
    method, params = command
    return Command(method, params or {})


# --------------------------------------------------------------------------- encoding


def build_query(params: Mapping[str, Any]) -> str:
    """PHP `http_build_query` for nested params: `fields[PHONE][0][VALUE]=%2B7999...`.

    `None` becomes an empty value (clears a field; fast_bitrix24 sends the string "None",
    research 8.1), booleans become 1/0 as PHP does.
    """
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in _flatten(params, ""))


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = quote(str(key), safe="")
            yield from _flatten(item, f"{prefix}[{name}]" if prefix else name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def batch_params(commands: Sequence[Command], ids: Sequence[str], *, halt: bool) -> dict[str, Any]:
    """The JSON body of one `batch` call."""
    if len(commands) > BATCH_LIMIT:
        raise ValueError(f"a batch holds at most {BATCH_LIMIT} commands")
    cmd = {}
    for command_id, command in zip(ids, commands, strict=True):
        query = build_query(command.params)
        cmd[command_id] = f"{command.method}?{query}" if query else command.method
    return {"halt": 1 if halt else 0, "cmd": cmd}


# --------------------------------------------------------------------------- decoding


def parse_batch(
    payload: Mapping[str, Any], commands: Sequence[Command], ids: Sequence[str]
) -> list[CommandResult]:
    """One `CommandResult` per command, in the order sent."""
    body = payload.get("result") or {}
    results = _section(body, "result", ids)
    errors = _section(body, "result_error", ids)
    totals = _section(body, "result_total", ids)
    nexts = _section(body, "result_next", ids)
    out = []
    for command_id, command in zip(ids, commands, strict=True):
        if command_id in errors:
            error = error_from_payload(None, errors[command_id], method=command.method)
            out.append(CommandResult(command, error=error))
        elif command_id in results:
            out.append(
                CommandResult(
                    command,
                    result=results[command_id],
                    total=_int(totals.get(command_id)),
                    next=_int(nexts.get(command_id)),
                )
            )
        else:
            out.append(CommandResult(command, error=CommandNotRun(f"{command.method}: not run")))
    return out


def _section(body: Mapping[str, Any], name: str, ids: Sequence[str]) -> dict[str, Any]:
    """A batch section as a dict by command id; lists (numeric ids, or `[]` for empty) too."""
    value = body.get(name)
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items()}
    if isinstance(value, list) and value:
        # Arrays come back only when ids are list indexes; map them by position.
        return {ids[index]: item for index, item in enumerate(value) if index < len(ids)}
    return {}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
