"""Bitrix24 REST client: limited calls, automatic batches, fast paging, the CRM operations.

Transport rules come from research/bitrix24.md: a client-side leaky bucket per portal (2.1),
a per-method operating budget (2.2), batches of up to 50 commands with per-command results (3),
`>ID` + `start=-1` paging (4), errors classified by code (7), OAuth refresh without losing the
call (1.2) and manual handling of the 302 a renamed portal answers with (1.2).
"""

from __future__ import annotations

import itertools
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

from connector.config import Settings
from connector.errors import ConnectorError, PermanentError, RateLimited
from connector.http import (
    LeakyBucket,
    RequestNotSent,
    RetryPolicy,
    Timeouts,
    chunks,
    error_for_status,
    json_body,
    make_session,
    send,
)
from connector.systems.bitrix24 import multifield
from connector.systems.bitrix24.batch import (
    BATCH_LIMIT,
    Command,
    CommandNotRun,
    CommandResult,
    as_command,
    batch_params,
    parse_batch,
)
from connector.systems.bitrix24.dispatcher import Dispatcher, placed
from connector.systems.bitrix24.errors import (
    OperatingLimit,
    QueryLimitExceeded,
    TokenExpired,
    error_from_payload,
)
from connector.systems.bitrix24.limiter import OperatingBudget, Plan
from connector.systems.bitrix24.oauth import (
    Connection,
    OAuthConnection,
    TokenStore,
    WebhookConnection,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

PAGE_SIZE = 50
FIND_BY_COMM_LIMIT = 20
AUTH_CONNECTOR = "omnichannel_connector"
ENTITY_TYPE_IDS = {"lead": 1, "deal": 2, "contact": 3, "company": 4}


@dataclass(frozen=True)
class Stage:
    """One deal stage of a funnel; `semantics` is "process", "success" or "failure"."""

    id: str
    name: str
    sort: int
    semantics: str
    category_id: int


@dataclass(frozen=True)
class UserField:
    """A CRM user field the mappings need: `name` with or without the `UF_CRM_` prefix."""

    name: str
    type: str = "string"
    label: str | None = None
    multiple: bool = False

    @property
    def field_name(self) -> str:
        upper = self.name.upper()
        return upper if upper.startswith("UF_CRM_") else f"UF_CRM_{upper}"


def bucket_name(settings: Settings) -> str:
    """The name of the portal's shared request bucket: its host (never the webhook URL, whose
    path holds the secret)."""
    url = getattr(settings, "bitrix24_webhook_url", None) or getattr(
        settings, "bitrix24_portal_url", None
    )
    host = urllib.parse.urlsplit(url).hostname if url else None
    return f"bitrix24:{host or 'portal'}"


class Bitrix24Client:
    """One portal. Thread-safe: workers share one client so they share one bucket."""

    def __init__(
        self,
        connection: Connection,
        *,
        plan: Plan = Plan(),
        bucket: LeakyBucket | None = None,
        operating: OperatingBudget | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeouts: Timeouts = Timeouts(),
        session: requests.Session | None = None,
        max_workers: int = 4,
        auth_connector: str | None = AUTH_CONNECTOR,
        sleep: Callable[[float], None] = time.sleep,
        dispatch: bool = False,
        dispatch_window: float = 0.003,
    ) -> None:
        self.connection = connection
        self.bucket = bucket or plan.bucket()
        self.operating = operating or OperatingBudget()
        self.retry = retry
        self.timeouts = timeouts
        self.session = session or make_session(pool_size=max(max_workers, 4))
        self.max_workers = max_workers
        self.auth_connector = auth_connector
        self._sleep = sleep
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        # one dispatcher per portal: the single commands of all threads share `batch` calls
        self.dispatcher: Dispatcher | None = (
            Dispatcher.for_client(self, window=dispatch_window, senders=max(max_workers, 1))
            if dispatch
            else None
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        token_store: TokenStore | None = None,
        session: requests.Session | None = None,
        engine: Engine | None = None,
        **options: Any,
    ) -> Bitrix24Client:
        """A client for the configured portal: the inbound webhook if set, else the OAuth app.
        With `engine`, its request bucket lives in that store, shared by every process."""
        timeouts = Timeouts.from_settings(settings)
        if getattr(settings, "bitrix24_webhook_url", None):
            connection: Connection = WebhookConnection(settings.bitrix24_webhook_url)
        else:
            if token_store is None:
                from connector.systems.bitrix24.credentials import store_token_store

                token_store = store_token_store(settings)
            connection = OAuthConnection(
                settings.bitrix24_client_id,
                settings.bitrix24_client_secret,
                token_store,
                portal_url=settings.bitrix24_portal_url,
                oauth_url=getattr(settings, "bitrix24_oauth_url", None),
                timeouts=timeouts,
            )
        plan = Plan(
            rate=float(getattr(settings, "bitrix24_rate", 2.0) or 2.0),
            burst=int(getattr(settings, "bitrix24_burst", 50) or 50),
        )
        if engine is not None and "bucket" not in options:
            options["bucket"] = plan.shared_bucket(engine, bucket_name(settings))
        options.setdefault("dispatch", bool(getattr(settings, "bitrix24_dispatch", True)))
        window_ms = getattr(settings, "bitrix24_dispatch_window_ms", None)
        if window_ms is not None:
            options.setdefault("dispatch_window", float(window_ms) / 1000.0)
        return cls(connection, plan=plan, timeouts=timeouts, session=session, **options)

    # ------------------------------------------------------------------ transport

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Runs one method and returns its `result`; raises a typed error."""
        return self.call_raw(method, params)["result"]

    def call_raw(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Runs one method and returns the whole answer (`result`, `total`, `next`, `time`)."""
        params = dict(params or {})
        if self.dispatcher is not None and dispatchable(method):
            return self._dispatched(Command(method, params))
        return self.retry.run(
            lambda: self._send(method, params, (method,)), idempotent=is_idempotent(method)
        )

    def _dispatched(self, command: Command) -> dict[str, Any]:
        """One command through the portal's dispatcher, in a `batch` with other threads' ones.

        Sent again (a bounded number of times) when it did not run, when the portal refused
        the batch for its rate, or when a read failed ambiguously; an add never is."""
        assert self.dispatcher is not None
        for attempt in itertools.count():
            result = self.dispatcher.run(command)
            error = result.error
            if error is None:
                answer: dict[str, Any] = {"result": result.result}
                if result.total is not None:
                    answer["total"] = result.total
                if result.next is not None:
                    answer["next"] = result.next
                return answer
            again = self._resend(result, attempt) or (
                attempt + 1 < self.retry.attempts
                and is_idempotent(command.method)
                and self.retry.should_retry(error, True)
                and not isinstance(error, RateLimited)
            )
            if not again:
                raise error
            if not isinstance(error, RateLimited | CommandNotRun | RequestNotSent):
                self._sleep(min(self.retry.backoff * 2**attempt, self.retry.backoff_cap))
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        params: dict[str, Any],
        limited: Sequence[str],
        *,
        slot_taken: bool = False,
    ) -> dict[str, Any]:
        """One attempt, plus one repeat after an OAuth refresh or a portal move.

        `slot_taken`: the caller already holds the bucket's slot for the first request."""
        self._wait_for_operating(limited)
        for repeat in itertools.count():
            if not slot_taken or repeat:
                self.bucket.acquire()
            body, token = self.connection.sign(params)
            response = send(
                self.session,
                "POST",
                self.connection.url(method),
                json=body,
                timeout=self.timeouts.as_tuple(),
                allow_redirects=False,
            )
            location = response.headers.get("Location")
            if response.status_code in (301, 302, 307, 308) and location and repeat == 0:
                self.connection.moved(location)
                continue
            try:
                return self._read(method, response)
            except TokenExpired:
                if repeat or not self.connection.is_app:
                    raise
                self.connection.refresh(token)
        raise AssertionError("unreachable")

    def _wait_for_operating(self, methods: Sequence[str]) -> None:
        wait = max(self.operating.wait_for(name) for name in methods)
        if wait > self.retry.max_wait:
            raise RateLimited(f"{methods[0]}: operating-time budget spent", wait=wait)
        if wait > 0:
            self._sleep(wait)

    def _read(self, method: str, response: requests.Response) -> dict[str, Any]:
        payload = json_body(response)  # None: an HTML error page under load
        status = response.status_code
        if 200 <= status < 300 and isinstance(payload, dict) and "error" not in payload:
            self.operating.record(method, payload.get("time"))
            return payload
        if not isinstance(payload, dict):
            raise error_for_status(status, f"{method}: HTTP {status}, not JSON")
        error = error_from_payload(status, payload, method=method)
        if isinstance(error, QueryLimitExceeded):
            error.wait = self.bucket.refused()
        elif isinstance(error, OperatingLimit):
            reset_at = self.operating.reset_hint(payload.get("time"))
            error.wait = self.operating.block(method, reset_at)
        raise error

    # ------------------------------------------------------------------ batch

    def batch(
        self,
        commands: Iterable[Command | tuple[str, Mapping[str, Any]]],
        *,
        halt: bool = False,
    ) -> list[CommandResult]:
        """Runs any number of commands in `batch` calls of up to 50; one result per command.

        Never raises for a command: a failed command carries its typed error, and so does every
        command of a batch call that failed as a whole. Commands refused for rate or operating
        limits (or not run after a `halt`) are sent again; the others are not.
        """
        todo = [as_command(command) for command in commands]
        if self._shares_batches(todo, halt):
            return self._dispatched_batch(todo)
        results: list[CommandResult | None] = [None] * len(todo)
        pending = list(range(len(todo)))
        for attempt in range(self.retry.attempts):
            groups = list(chunks(pending, BATCH_LIMIT))
            answered = self._map(self._batch_chunk, groups, todo, halt)
            for group, answers in zip(groups, answered, strict=True):
                for index, answer in zip(group, answers, strict=True):
                    results[index] = answer
            pending = [i for i in pending if self._resend(results[i], attempt)]
            if halt and any(self._stops(result) for result in results):
                pending = []  # `halt`: after a failure that stays, the rest must not run
            if not pending:
                break
        return [result for result in results if result is not None]

    def _shares_batches(self, todo: list[Command], halt: bool) -> bool:
        """A few commands without `halt` ride in the dispatcher's batches with everyone else's;
        bulk work (more than one batch) keeps its own calls."""
        return (
            self.dispatcher is not None
            and not halt
            and 0 < len(todo) < BATCH_LIMIT
            and all(dispatchable(command.method) for command in todo)
        )

    def _dispatched_batch(self, todo: list[Command]) -> list[CommandResult]:
        """Each command through the dispatcher (in one batch call when they fit), resent as
        `batch` resends: only commands refused for rate or not run."""
        assert self.dispatcher is not None
        futures = [self.dispatcher.submit(command) for command in todo]
        results = [future.result() for future in futures]
        for attempt in range(self.retry.attempts):
            again = [i for i, result in enumerate(results) if self._resend(result, attempt)]
            if not again:
                break
            retried = [self.dispatcher.submit(todo[i]) for i in again]
            for index, future in zip(again, retried, strict=True):
                results[index] = future.result()
        return results

    def _map(
        self, run: Callable[..., list[CommandResult]], groups: list, todo: list, halt: bool
    ) -> Iterator[list[CommandResult]]:
        calls = [[todo[i] for i in group] for group in groups]
        if len(calls) <= 1 or self.max_workers <= 1:
            return (run(call, halt) for call in calls)
        return self._pool().map(run, calls, itertools.repeat(halt))

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers, "bitrix24-batch")
            return self._executor

    def _stops(self, result: CommandResult | None) -> bool:
        error = result.error if result else None
        return error is not None and not self._resend(result, 0)

    def _resend(self, result: CommandResult | None, attempt: int) -> bool:
        error = result.error if result else None
        if attempt + 1 >= self.retry.attempts:
            return False
        if isinstance(error, CommandNotRun | RequestNotSent):
            return True
        return isinstance(error, RateLimited) and error.wait <= self.retry.max_wait

    def _batch_chunk(
        self, commands: list[Command], halt: bool, *, slot_taken: bool = False
    ) -> list[CommandResult]:
        ids = [f"c{index}" for index in range(len(commands))]
        params = batch_params(commands, ids, halt=halt)
        limited = ["batch", *{command.method for command in commands}]
        idempotent = all(is_idempotent(command.method) for command in commands)
        slot = [slot_taken]  # the reserved slot serves the first attempt only

        def attempt() -> dict[str, Any]:
            taken, slot[0] = slot[0], False
            return self._send("batch", params, limited, slot_taken=taken)

        try:
            payload = self.retry.run(attempt, idempotent=idempotent)
        except ConnectorError as error:
            return [CommandResult(command, error=error) for command in commands]
        results = parse_batch(payload, commands, ids)
        self._record_batch_time(payload, commands, ids, results)
        return results

    def _record_batch_time(
        self,
        payload: Mapping[str, Any],
        commands: list[Command],
        ids: list[str],
        results: list[CommandResult],
    ) -> None:
        times = (payload.get("result") or {}).get("result_time")
        times = times if isinstance(times, Mapping) else {}
        for command_id, command, result in zip(ids, commands, results, strict=True):
            self.operating.record(command.method, times.get(command_id))
            error = result.error
            if isinstance(error, OperatingLimit):
                error.wait = self.operating.block(command.method)

    # ------------------------------------------------------------------ lists

    def list_all(
        self,
        method: str,
        filter: Mapping[str, Any] | None = None,
        select: Sequence[str] | None = None,
        *,
        pages_per_call: int = 1,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a `*.list` method, by the fast `>ID` + `start=-1` paging (no COUNT).

        With `pages_per_call` up to 50, one `batch` call reads that many pages in a chain, each
        command filtering on the last ID of the one before (`$result[cN][49][ID]`): 2,500 rows
        per request for bulk exports (docs `settings/performance/huge-data.md`). A chain stops
        at the first short page; the commands after it ran on an unresolved reference and are
        ignored.
        """
        is_item = method.startswith("crm.item.")
        id_field = "id" if is_item else "ID"
        chain = max(1, min(BATCH_LIMIT, pages_per_call))
        last_id = 0
        while True:
            pages = self._read_pages(method, filter, select, params, id_field, last_id, chain)
            for rows in pages:
                yield from rows
                if len(rows) < PAGE_SIZE:
                    return
            next_id = int(pages[-1][-1][id_field])
            if next_id <= last_id:
                raise PermanentError(f"{method}: paging cursor stalled at {last_id}")
            last_id = next_id

    def _read_pages(
        self,
        method: str,
        filter: Mapping[str, Any] | None,
        select: Sequence[str] | None,
        params: Mapping[str, Any],
        id_field: str,
        last_id: int,
        chain: int,
    ) -> list[list[dict[str, Any]]]:
        def page(after: int | str) -> dict[str, Any]:
            page_params = {
                **params,
                "order": {id_field: "ASC"},
                "filter": {**(filter or {}), f">{id_field}": after},
                "start": -1,
            }
            if select:
                page_params["select"] = list(dict.fromkeys([id_field, *select]))
            return page_params

        if chain == 1:
            return [page_rows(self.call(method, page(last_id)))]
        rows_path = "[items]" if method.startswith("crm.item.") else ""
        commands = [Command(method, page(last_id))]
        for index in range(1, chain):
            reference = f"$result[c{index - 1}]{rows_path}[{PAGE_SIZE - 1}][{id_field}]"
            commands.append(Command(method, page(reference)))
        pages = []
        # One call, never partly re-sent: a resent command's `$result[...]` would point elsewhere.
        for result in self._batch_chunk(commands, True):
            rows = page_rows(result.unwrap())
            pages.append(rows)
            if len(rows) < PAGE_SIZE:
                break
        return pages

    def list_modified_since(
        self,
        method: str,
        since: datetime | str,
        select: Sequence[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Rows changed after `since` (`>DATE_MODIFY`, or `>updatedTime` for `crm.item.list`)."""
        field = ">updatedTime" if method.startswith("crm.item.") else ">DATE_MODIFY"
        stamp = since.isoformat() if isinstance(since, datetime) else since
        return self.list_all(method, {**(filter or {}), field: stamp}, select, **params)

    # ------------------------------------------------------------------ contacts

    def find_contacts_by_comm(
        self, phones: Iterable[str] = (), emails: Iterable[str] = ()
    ) -> list[int]:
        """Contact IDs whose phone or e-mail matches, in one batch of `crm.duplicate.findbycomm`."""
        commands = []
        for kind, values in (("PHONE", phones), ("EMAIL", emails)):
            unique = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
            for part in chunks(unique, FIND_BY_COMM_LIMIT):
                params = {"type": kind, "values": list(part), "entity_type": "CONTACT"}
                commands.append(Command("crm.duplicate.findbycomm", params))
        if not commands:
            return []
        found: dict[int, None] = {}
        for result in self.batch(commands):
            answer = result.unwrap()
            for contact_id in (answer or {}).get("CONTACT", []) if isinstance(answer, dict) else []:
                found[int(contact_id)] = None
        return list(found)

    def get_contact(self, contact_id: int) -> dict[str, Any]:
        return self.call("crm.contact.get", {"id": contact_id})

    def contact_was_deleted(self, contact_id: int, error: Exception) -> bool:
        """Whether a refused write hit a contact deleted in the CRM (asked, not read from the
        message): a drift the reconcile repairs by recreating the contact, not a failed task."""
        if not isinstance(error, PermanentError):
            return False
        try:
            self.get_contact(contact_id)
        except PermanentError:
            return True
        return False

    def add_contact(
        self,
        fields: Mapping[str, Any],
        phones: Iterable[str | Mapping[str, Any]] = (),
        emails: Iterable[str | Mapping[str, Any]] = (),
    ) -> int:
        """Creates a contact; returns its ID. Not retried after an ambiguous failure."""
        return int(self.call("crm.contact.add", self.contact_add_params(fields, phones, emails)))

    def contact_add_params(
        self,
        fields: Mapping[str, Any],
        phones: Iterable[str | Mapping[str, Any]] = (),
        emails: Iterable[str | Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """The params of `crm.contact.add`, also for use in `batch`."""
        body = dict(fields)
        if phone_items := multifield.new_items(multifield.PHONE, phones):
            body["PHONE"] = phone_items
        if email_items := multifield.new_items(multifield.EMAIL, emails):
            body["EMAIL"] = email_items
        return self._write({"fields": body})

    def add_contacts(self, contacts: Iterable[Mapping[str, Any]]) -> list[CommandResult]:
        """Bulk create: each item has `fields` and optional `phones`, `emails`; one result each."""
        return self.batch(
            Command(
                "crm.contact.add",
                self.contact_add_params(
                    item.get("fields", {}), item.get("phones", ()), item.get("emails", ())
                ),
            )
            for item in contacts
        )

    def update_contact(
        self,
        contact_id: int,
        fields: Mapping[str, Any] | None = None,
        *,
        phones: Iterable[str | Mapping[str, Any]] | None = None,
        emails: Iterable[str | Mapping[str, Any]] | None = None,
        existing: Mapping[str, Any] | None = None,
        remove_missing: bool = False,
    ) -> bool:
        """Updates a contact so it holds the wanted phones and e-mails, sending value IDs.

        `existing` is the contact as read (`crm.contact.get`), whose PHONE/EMAIL items give the
        IDs; it is read when not passed. Returns False when nothing needed to change.
        """
        body = dict(fields or {})
        if (phones is not None or emails is not None) and existing is None:
            existing = self.get_contact(contact_id)
        for kind, wanted in ((multifield.PHONE, phones), (multifield.EMAIL, emails)):
            if wanted is None:
                continue
            items = multifield.plan(
                kind, wanted, (existing or {}).get(kind) or [], remove_missing=remove_missing
            )
            if items:
                body[kind] = items
        if not body:
            return False
        self.call("crm.contact.update", self._write({"id": contact_id, "fields": body}))
        return True

    # ------------------------------------------------------------------ deals

    def add_deal(self, fields: Mapping[str, Any]) -> int:
        return int(self.call("crm.deal.add", self._write({"fields": dict(fields)})))

    def add_deal_with_rows(
        self, fields: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
    ) -> tuple[int, CommandResult]:
        """Creates a deal and sets its product rows in one request: the rows command names the
        new deal by reference (`$result[...]`, research/bitrix24.md "batch"), so a new order's
        deal costs one round trip, not two. Returns the deal's ID and the rows' own result
        (their error is the caller's to raise once the deal is linked). The add is never sent
        twice: the pair goes again only when the portal ran neither."""
        add = Command("crm.deal.add", self._write({"fields": dict(fields)}))
        set_rows = Command(
            "crm.deal.productrows.set",
            self._write({"id": "$result[@0]", "rows": [dict(row) for row in rows]}),
        )
        for attempt in itertools.count():
            if self.dispatcher is not None:
                futures = self.dispatcher.submit_chain([add, set_rows])
                results = [future.result() for future in futures]
            else:
                results = self._batch_chunk([placed(add, 0), placed(set_rows, 0)], True)
            if not self._resend(results[0], attempt):
                break
        return int(results[0].unwrap()), results[1]

    def update_deal(self, deal_id: int, fields: Mapping[str, Any]) -> bool:
        return bool(
            self.call("crm.deal.update", self._write({"id": deal_id, "fields": dict(fields)}))
        )

    def get_deal(self, deal_id: int) -> dict[str, Any]:
        return self.call("crm.deal.get", {"id": deal_id})

    def move_deal(self, deal_id: int, category_id: int, stage_id: str | None = None) -> bool:
        """Moves a deal to another funnel (`crm.deal.update` cannot; `crm.item.update` can)."""
        fields: dict[str, Any] = {"categoryId": category_id}
        if stage_id:
            fields["stageId"] = stage_id
        params = {"entityTypeId": 2, "id": deal_id, "fields": fields}
        return bool(self.call("crm.item.update", self._write(params)))

    def set_product_rows(self, deal_id: int, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Replaces all product rows of a deal (rows not sent are deleted, by design)."""
        params = {"id": deal_id, "rows": [dict(row) for row in rows]}
        return bool(self.call("crm.deal.productrows.set", self._write(params)))

    def get_product_rows(self, deal_id: int) -> list[dict[str, Any]]:
        return list(self.call("crm.deal.productrows.get", {"id": deal_id}) or [])

    def stages(self, category_id: int | None = None) -> list[Stage]:
        """Deal stages of a funnel (0 or None is the default funnel), in board order."""
        entity = f"DEAL_STAGE_{category_id}" if category_id else "DEAL_STAGE"
        params = {"order": {"SORT": "ASC"}, "filter": {"ENTITY_ID": entity}}
        rows = self.call("crm.status.list", params)
        return [_stage(row, category_id or 0) for row in rows or []]

    # ------------------------------------------------------------------ timeline, user fields

    def add_timeline_comment(self, entity_type: str, entity_id: int, text: str) -> int:
        fields = {"ENTITY_ID": entity_id, "ENTITY_TYPE": entity_type.lower(), "COMMENT": text}
        return int(self.call("crm.timeline.comment.add", self._write({"fields": fields})))

    def user_fields(self, entity: str) -> list[dict[str, Any]]:
        return list(self.call(f"crm.{entity}.userfield.list", {}) or [])

    def ensure_user_fields(self, entity: str, fields: Iterable[UserField]) -> list[str]:
        """Creates the user fields `entity` ("contact", "deal") lacks; returns the names created."""
        have = {str(row.get("FIELD_NAME", "")).upper() for row in self.user_fields(entity)}
        created = []
        for field in fields:
            if field.field_name in have:
                continue
            params = {
                "fields": {
                    "FIELD_NAME": field.field_name.removeprefix("UF_CRM_"),
                    "USER_TYPE_ID": field.type,
                    "XML_ID": field.field_name,
                    "LABEL": field.label or field.field_name,
                    "EDIT_FORM_LABEL": field.label or field.field_name,
                    "LIST_COLUMN_LABEL": field.label or field.field_name,
                    "MULTIPLE": "Y" if field.multiple else "N",
                }
            }
            self.call(f"crm.{entity}.userfield.add", params)
            have.add(field.field_name)
            created.append(field.field_name)
        return created

    # ------------------------------------------------------------------ helpers

    def _write(self, params: dict[str, Any]) -> dict[str, Any]:
        """Tags our writes so offline events bound with the same connector skip them."""
        if self.auth_connector:
            params["auth_connector"] = self.auth_connector
        return params

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self.session.close()


def is_idempotent(method: str) -> bool:
    """May this method be sent twice with the same effect? Adds and destructive reads may not."""
    name = method.lower()
    return not (name.endswith(".add") or name == "event.offline.get" or name.endswith(".import"))


NOT_DISPATCHED = ("batch", "event.offline.get", "event.offline.clear", "event.offline.error")


def dispatchable(method: str) -> bool:
    """May this method share a `batch` call with other threads' commands? Not `batch` itself
    (no nesting) and not the offline-event queue, whose reads are destructive."""
    return method.lower() not in NOT_DISPATCHED


def page_rows(result: Any) -> list[dict[str, Any]]:
    """Rows of a list answer: a list (legacy) or `{"items": [...]}` (crm.item.list and kin)."""
    if isinstance(result, list):
        return result
    if isinstance(result, Mapping):
        for value in result.values():
            if isinstance(value, list):
                return value
    return []


def _stage(row: Mapping[str, Any], category_id: int) -> Stage:
    """`SEMANTICS` S/F decides; `EXTRA.SEMANTICS` may add kinds such as "apology" (a failure)."""
    letter = str(row.get("SEMANTICS") or "")
    extra = found if isinstance(found := row.get("EXTRA"), Mapping) else {}
    semantics = {"S": "success", "F": "failure"}.get(letter)
    if semantics is None:
        kind = str(extra.get("SEMANTICS") or "process")
        semantics = kind if kind in ("process", "success") else "failure"
    return Stage(
        id=str(row.get("STATUS_ID")),
        name=str(row.get("NAME", "")),
        sort=int(row.get("SORT") or 0),
        semantics=semantics,
        category_id=int(row.get("CATEGORY_ID") or category_id),
    )


__all__ = [
    "Bitrix24Client",
    "Command",
    "CommandResult",
    "Stage",
    "UserField",
    "is_idempotent",
    "page_rows",
]
