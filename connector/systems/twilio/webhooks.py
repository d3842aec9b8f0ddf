"""Twilio's webhooks, proven and read: `X-Twilio-Signature` and the form fields.

Twilio signs every webhook with the account's auth token: the full URL it called (scheme, host,
path and query string, as configured at Twilio or given as StatusCallback), followed by each
POST field sorted by name, name and value joined with nothing between; HMAC-SHA1 of that,
base64 (specs/twilio/README.md). Fields are the form's own, so the body is read as a form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from connector.errors import PermanentError

# Twilio's default opt-out and opt-in keywords (a reply that is just the word, any case)
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})


def form_fields(raw: bytes) -> list[tuple[str, str]]:
    """The form's fields in order; PermanentError for a body that is no form."""
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise PermanentError("body: not a form", code="bad_form") from None


def signature(auth_token: str, url: str, fields: Iterable[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature of a POST to `url` with these form fields."""
    text = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(auth_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def with_and_without_port(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port: Twilio may sign
    either, and its own validators try each."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    found = [url, urlunsplit(parts._replace(netloc=host))]
    if default is not None:
        found.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    return found


def verify(
    auth_token: str | None, urls: Iterable[str], fields: list[tuple[str, str]], given: str | None
) -> bool:
    """True when `given` is the signature of the fields at one of `urls` (the URL configured at
    Twilio, the URL the request reached), each also without its port and with the default."""
    if not auth_token or not given:
        return False
    candidates = dict.fromkeys(variant for url in urls for variant in with_and_without_port(url))
    return any(hmac.compare_digest(signature(auth_token, url, fields), given) for url in candidates)


def keyword(body: str) -> str | None:
    """`stop` / `start` when an inbound text is one of Twilio's opt-out / opt-in keywords."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return "stop"
    if word in OPT_IN_WORDS:
        return "start"
    return None


def required(fields: dict[str, str], *names: str) -> None:
    """400's message naming the first missing field."""
    for name in names:
        if not fields.get(name):
            raise PermanentError(f"{name}: missing", code="bad_form")
