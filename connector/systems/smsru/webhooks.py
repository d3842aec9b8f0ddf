"""SMS.ru's status callbacks, read and proven: `data[N]` entries and their `hash`.

SMS.ru POSTs a form of `data[0]`, `data[1]`, ... (up to 100), each lines joined by "\\n": the
first line is the type; a delivery status is `sms_status\\n<sms_id>\\n<status code>\\n<unix
time>`. `hash` is the hex SHA-256 of the api_id followed by every entry in order (one
third-party source, specs/smsru/README.md: so the URL secret is the proof the route relies on,
and a `hash` that is present must match too). SMS.ru wants the body `100` back; anything else
is delivered again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from connector.errors import PermanentError

_ENTRY = re.compile(r"^data\[(\d{1,4})\]$")
MAX_ENTRIES = 1000


@dataclass(frozen=True)
class SmsStatus:
    """One `sms_status` entry."""

    sms_id: str
    code: int
    at: float | None


@dataclass(frozen=True)
class Callback:
    entries: list[str]  # every data[] entry in order
    hash: str | None

    def statuses(self) -> list[SmsStatus]:
        found = []
        for number, entry in enumerate(self.entries):
            lines = entry.replace("\r\n", "\n").split("\n")
            if lines[0].strip() != "sms_status":
                continue
            if len(lines) < 3 or not lines[1].strip() or not lines[2].strip().lstrip("-").isdigit():
                raise PermanentError(
                    f"data[{number}]: an sms_status entry needs an sms id and a status code",
                    code="bad_entry",
                )
            at = lines[3].strip() if len(lines) > 3 else ""
            found.append(
                SmsStatus(
                    lines[1].strip(), int(lines[2].strip()), float(at) if at.isdigit() else None
                )
            )
        return found


def parse_callback(raw: bytes) -> Callback:
    """The form's `data[]` entries in index order and its `hash`; PermanentError naming the
    field for a body that is no such form."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise PermanentError("body: not a form of data[] entries", code="bad_form") from None
    entries: dict[int, str] = {}
    signature = None
    for key, value in pairs:
        if key == "hash":
            signature = value
            continue
        match = _ENTRY.match(key)
        if match is None:
            continue
        index = int(match.group(1))
        if index in entries:
            raise PermanentError(f"{key}: given twice", code="bad_form")
        entries[index] = value
    if not entries:
        raise PermanentError("data[]: missing", code="bad_form")
    if len(entries) > MAX_ENTRIES:
        raise PermanentError(f"data[]: more than {MAX_ENTRIES} entries", code="bad_form")
    return Callback([entries[index] for index in sorted(entries)], signature)


def callback_hash(api_id: str, entries: list[str]) -> str:
    """SMS.ru's `hash` of a callback: hex SHA-256 of api_id + the entries joined."""
    return hashlib.sha256((api_id + "".join(entries)).encode("utf-8")).hexdigest()


def hash_matches(api_id: str | None, callback: Callback) -> bool:
    """True when the callback carries no `hash`, or one made with our api_id."""
    if callback.hash is None:
        return True
    if not api_id:
        return False
    return hmac.compare_digest(callback_hash(api_id, callback.entries), callback.hash.lower())
