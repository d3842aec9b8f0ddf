"""SMS.ru HTTP API client: send one SMS, read its status, the balance, the status callback URL.

Facts (specs/smsru/README.md): form POSTs to `https://sms.ru/<method>` with `api_id` and
`json=1`. HTTP is 200 whatever happened; the answer's `status` ("OK" | "ERROR") and
`status_code` say. `sms/send` answers per number under `sms`: `{"7925...": {"status": "OK",
"status_code": 100, "sms_id": "000000-10000000"}}` or that number's own error code. Error codes
are typed here (`error_of_code`): 200 wrong api_id -> AuthError; 201 no money, 202 bad number,
204 sender not approved, 207 no route... -> PermanentError with the code; 209/215 the number is
in a stop list -> `StopListed` (a PermanentError the channel records as an opt-out); 206 daily
limit and 230-233 per-number anti-fraud limits -> RateLimited; 220 and 500 -> `NotSent`, a
TransientError that is safe to send again (SMS.ru answered it did nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Unpack

from connector.config import Settings
from connector.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from connector.http import (
    JsonClient,
    RequestNotSent,
    Timeouts,
    Transport,
    error_for_status,
    json_body,
    parse_retry_after,
    require,
)
from connector.systems.smsru.settings import SmsruSettings

log = logging.getLogger("connector.systems.smsru")

DEFAULT_URL = "https://sms.ru"
STATUS_BATCH = 100  # ids per `sms/status` call
DAY = 86_400.0

# request-level and per-number refusals (specs/smsru/README.md, "Error codes")
AUTH_CODES = {200, 300, 301, 302}
STOP_LIST_CODES = {209, 215}
TRANSIENT_CODES = {220, 500}
# how long a limit holds: 206 the day's limit, 230 per number per day, 231 the same text to
# the same number within a minute, 232 per number per day, 233 repeated codes within minutes
LIMIT_WAITS = {206: 3600.0, 230: 3600.0, 231: 60.0, 232: 3600.0, 233: 600.0}
OPERATOR_CODES = {201, 204}  # the account itself needs the operator: money, sender name


class NotSent(RequestNotSent):
    """SMS.ru answered that it is down (220) or failed (500) and sent nothing: safe to send
    again, within the call and by the queue."""


class StopListed(PermanentError):
    """SMS.ru refused the number because it is on a stop list (its own or the account's)."""


@dataclass(frozen=True)
class SentSms:
    """One number's answer to `sms/send`."""

    sms_id: str
    status_code: int
    cost: float | None = None
    balance: float | None = None


def error_of_code(code: int, text: str, where: str = "sms.ru") -> ConnectorError:
    """The typed error of an SMS.ru `status_code` other than 100."""
    message = f"{where}: [{code}] {text or 'refused'}"
    if code in AUTH_CODES:
        return AuthError(f"{message} (check CONNECTOR_SMSRU_API_ID)")
    if code in LIMIT_WAITS:
        return RateLimited(message, wait=LIMIT_WAITS[code])
    if code in TRANSIENT_CODES:
        return NotSent(message)
    if code in STOP_LIST_CODES:
        return StopListed(message, code=str(code))
    if code in OPERATOR_CODES:
        log.error("SMS.ru refuses the account, the operator must act: %s", message)
    return PermanentError(message, code=str(code))


class SmsruClient(JsonClient):
    """One SMS.ru account. Thread-safe; a send is never re-sent after an ambiguous failure."""

    def __init__(
        self,
        url: str | None,
        api_id: str | None,
        *,
        sender: str | None = None,
        test: bool = False,
        **transport: Unpack[Transport],
    ) -> None:
        require(CONNECTOR_SMSRU_API_ID=api_id)
        super().__init__(url or DEFAULT_URL, **transport)
        self._api_id = api_id
        self.sender = sender
        self.test = test

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> SmsruClient:
        smsru = settings.of(SmsruSettings)
        return cls(
            smsru.url,
            smsru.api_id,
            sender=smsru.sender,
            test=smsru.test,
            timeouts=Timeouts.from_settings(settings),
            **options,
        )

    # ------------------------------------------------------------------ transport

    def _exchange(
        self, method: str, url: str, body: Any, params: Mapping[str, Any] | None
    ) -> tuple[Any, Mapping[str, str]]:
        form = {**(body or {}), "api_id": self._api_id, "json": 1}
        response = self._send("POST", url, data=form)
        if response.status_code != 200:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise error_for_status(
                response.status_code, f"sms.ru HTTP {response.status_code}", retry_after=retry_after
            )
        payload = json_body(response)
        if not isinstance(payload, Mapping):
            raise TransientError("sms.ru answered something that is not JSON")
        if payload.get("status") != "OK":
            raise error_of_code(
                _code(payload.get("status_code")), str(payload.get("status_text") or "")
            )
        return payload, response.headers

    # ------------------------------------------------------------------ methods

    def send(self, phone: str, text: str) -> SentSms:
        """`sms/send` to one number (E.164 or digits); its `sms_id`, or the number's error."""
        to = phone.lstrip("+")
        form: dict[str, Any] = {"to": to, "msg": text}
        if self.sender:
            form["from"] = self.sender
        if self.test:
            form["test"] = 1
        answer = self.request("POST", "/sms/send", json=form)
        numbers = answer.get("sms") or {}
        one = numbers.get(to) if isinstance(numbers, Mapping) else None
        if not isinstance(one, Mapping):
            raise TransientError("sms.ru answered without the number it was asked to send to")
        if one.get("status") != "OK":
            raise error_of_code(_code(one.get("status_code")), str(one.get("status_text") or ""))
        return SentSms(
            sms_id=str(one.get("sms_id")),
            status_code=_code(one.get("status_code")),
            cost=_number(one.get("cost")),
            balance=_number(answer.get("balance")),
        )

    def statuses(self, sms_ids: list[str]) -> dict[str, int]:
        """`sms/status` of up to 100 messages (ids comma-separated): each one's SMS.ru status
        code, -1 for an id SMS.ru does not know."""
        if not sms_ids:
            return {}
        form = {"sms_id": ",".join(sms_ids[:STATUS_BATCH])}
        answer = self.request("POST", "/sms/status", json=form, idempotent=True)
        found = answer.get("sms") or {}
        return {
            sms_id: _code((found.get(sms_id) or {}).get("status_code"), -1)
            for sms_id in sms_ids[:STATUS_BATCH]
        }

    def balance(self) -> float:
        """`my/balance`: the account's balance in roubles."""
        answer = self.request("POST", "/my/balance", idempotent=True)
        return float(answer.get("balance") or 0.0)

    def add_callback(self, url: str) -> list[str]:
        """`callback/add`: SMS.ru posts statuses to `url`; answers every callback URL held."""
        answer = self.request("POST", "/callback/add", json={"url": url}, idempotent=True)
        return [str(item) for item in answer.get("callback") or []]

    def callbacks(self) -> list[str]:
        """`callback/get`: the status callback URLs the account holds."""
        answer = self.request("POST", "/callback/get", idempotent=True)
        return [str(item) for item in answer.get("callback") or []]


def _code(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
