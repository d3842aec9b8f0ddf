"""One evaluation of the alerts: open and clear incidents, write the digest, send what is owed.

Run by the scheduler every minute (jobs/alerts.py), in the scheduler's own thread, never by the
worker: an alert about a lagging queue does not wait in that queue, and a slow mail server
holds up no task. Each evaluation:

1. reads the health signals (`connector.observe.overview`) and the rules' conditions;
2. in one transaction: opens an incident for each new condition (`open_key` is unique while it
   is open, so two schedulers never open one twice), keeps the open ones that still hold, and
   clears the others; each opening or clearing owes every channel one message (`alert_sends`);
3. writes the dead-letter digest when this interval has none yet and new dead letters exist;
4. sends what is owed, one thread per channel, each send with a short time-out: a message is
   claimed (`claimed_until`), sent, and marked `sent_at`; one that failed stays owed and is sent
   at the next evaluation, so a channel that is down gets each message once when it is back,
   and a channel that times out never keeps the others from theirs.

Incidents and owed messages live in the store: a restart neither repeats nor forgets them.
A message is sent twice only if the process dies between a channel accepting it and
`sent_at` being written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector import observe
from connector.alerts.channels import AlertSendError, Channel, Message, channels_from_settings
from connector.alerts.messages import message_for, test_message
from connector.alerts.refusals import purge_refusals
from connector.alerts.rules import DEAD_LETTERS, Condition, conditions
from connector.store import reading
from connector.store.tables import alert_incidents, alert_sends

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger("connector.alerts")

OPEN, CLEARED, NOTICE = "open", "cleared", "notice"  # incident states
EVENTS = ("open", "notice", "clear")  # message order within an incident
MAX_ATTEMPTS = 120  # a message no channel took within about two hours of tries is given up
GAVE_UP = "gave up after {attempts} attempts: "


@dataclass
class Evaluation:
    """What one evaluation did (for logs, `connector alerts evaluate` and the tests)."""

    opened: list[str] = field(default_factory=list)  # rule:subject
    cleared: list[str] = field(default_factory=list)
    digest: int | None = None  # dead letters told in this evaluation's digest
    sent: dict[str, int] = field(default_factory=dict)  # channel -> messages sent
    failed: dict[str, str] = field(default_factory=dict)  # channel -> its error


def evaluate(
    services: Services, channels: Sequence[Channel] | None = None, now: float | None = None
) -> Evaluation:
    """One evaluation (see the module docstring)."""
    settings = services.settings
    now = services.queue.clock() if now is None else now
    channels = list(channels_from_settings(settings) if channels is None else channels)
    names = [channel.name for channel in channels]
    overview = observe.overview(services, now)
    holding = {condition.key: condition for condition in conditions(overview, settings)}
    digest = _digest_due(services, now)
    result = Evaluation()
    with services.engine.begin() as connection:
        _update_incidents(connection, holding, names, now, result)
        if digest is not None:
            result.digest = _write_digest(connection, digest, names, now, overview)
    purge_refusals(services.engine, now)
    sent, failed = deliver(services, channels)
    result.sent, result.failed = sent, failed
    if result.opened or result.cleared or result.digest or failed:
        log.info(
            "alerts: opened %s, cleared %s, digest %s, sent %s, failed %s",
            result.opened or "-",
            result.cleared or "-",
            result.digest or "-",
            sent or "-",
            failed or "-",
        )
    return result


def evaluate_job(services: Services) -> None:
    """What the scheduler runs (jobs/alerts.py); never raises, so the schedule goes on."""
    try:
        evaluate(services)
    except Exception:  # noqa: BLE001 - the next minute tries again; the log says why
        log.exception("alert evaluation failed")


# -- incidents --------------------------------------------------------------------------------


def _insert_ignoring(
    connection: Connection, table: Any, row: Mapping[str, Any], unique: list[str]
) -> bool:
    """Inserts `row` unless it would break the unique `unique` columns; True when inserted."""
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        make = sqlite.insert if dialect == "sqlite" else postgresql.insert
        statement = make(table).values(**row).on_conflict_do_nothing(index_elements=unique)
        return bool(connection.execute(statement).rowcount)
    connection.execute(insert(table).values(**row))
    return True


def _owe(
    connection: Connection, incident_id: int, event: str, names: Sequence[str], now: float
) -> None:
    for name in names:
        _insert_ignoring(
            connection,
            alert_sends,
            {
                "incident_id": incident_id,
                "event": event,
                "channel": name,
                "created_at": now,
                "attempts": 0,
            },
            ["incident_id", "event", "channel"],
        )


def _update_incidents(
    connection: Connection,
    holding: Mapping[str, Condition],
    names: Sequence[str],
    now: float,
    result: Evaluation,
) -> None:
    open_rows = connection.execute(
        select(alert_incidents.c.id, alert_incidents.c.open_key).where(
            alert_incidents.c.state == OPEN
        )
    ).all()
    is_open = {row.open_key for row in open_rows}
    for row in open_rows:
        condition = holding.get(row.open_key)
        if condition is not None:
            connection.execute(
                update(alert_incidents)
                .where(alert_incidents.c.id == row.id)
                .values(seen_at=now, detail={**condition.detail, "now": condition.summary})
            )
            continue
        cleared = connection.execute(
            update(alert_incidents)
            .where(alert_incidents.c.id == row.id, alert_incidents.c.state == OPEN)
            .values(state=CLEARED, cleared_at=now, open_key=None)
        ).rowcount
        if not cleared:
            continue  # another evaluation cleared it
        told = connection.scalars(
            select(alert_sends.c.channel).where(
                alert_sends.c.incident_id == row.id, alert_sends.c.event == "open"
            )
        ).all()
        _owe(connection, row.id, "clear", told, now)
        result.cleared.append(str(row.open_key))
    for key, condition in holding.items():
        if key in is_open:
            continue
        opened = _insert_ignoring(
            connection,
            alert_incidents,
            {
                "rule": condition.rule,
                "subject": condition.subject[:100],
                "state": OPEN,
                "open_key": key[:160],
                "summary": condition.summary,
                "detail": condition.detail,
                "opened_at": now,
                "seen_at": now,
            },
            ["open_key"],
        )
        if not opened:
            continue
        incident_id = connection.scalar(
            select(alert_incidents.c.id).where(alert_incidents.c.open_key == key[:160])
        )
        assert incident_id is not None
        _owe(connection, incident_id, "open", names, now)
        result.opened.append(key)


# -- the dead-letter digest -------------------------------------------------------------------


@dataclass(frozen=True)
class _Digest:
    key: str
    since: float
    count: int
    kinds: list[str]


def _digest_due(services: Services, now: float) -> _Digest | None:
    """The digest this interval owes, or None (written already, or no new dead letters)."""
    interval = services.settings.alerts_digest_minutes * 60
    key = f"digest:{DEAD_LETTERS}:{int(now // interval)}"
    with reading(services.engine) as connection:
        last = connection.execute(
            select(alert_incidents.c.open_key, alert_incidents.c.detail)
            .where(alert_incidents.c.rule == DEAD_LETTERS)
            .order_by(alert_incidents.c.id.desc())
            .limit(1)
        ).first()
    if last is not None and last.open_key == key:
        return None
    since = now - interval
    if last is not None and isinstance(last.detail, dict) and last.detail.get("until"):
        since = float(last.detail["until"])
    count, kinds = observe.dead_letters_since(services, since, now)
    return _Digest(key, since, count, kinds) if count else None


def _write_digest(
    connection: Connection,
    digest: _Digest,
    names: Sequence[str],
    now: float,
    overview: observe.Overview,
) -> int | None:
    written = _insert_ignoring(
        connection,
        alert_incidents,
        {
            "rule": DEAD_LETTERS,
            "subject": "dead letters",
            "state": NOTICE,
            "open_key": digest.key,
            "summary": f"{digest.count} new dead letter{'s' if digest.count != 1 else ''}",
            "detail": {
                "since": digest.since,
                "until": now,
                "count": digest.count,
                "kinds": digest.kinds[:20],
                "total": overview.dead_letters.count,
                "newest_error": overview.dead_letters.newest_error,
            },
            "opened_at": now,
            "seen_at": now,
            "cleared_at": now,
        },
        ["open_key"],
    )
    if not written:
        return None
    incident_id = connection.scalar(
        select(alert_incidents.c.id).where(alert_incidents.c.open_key == digest.key)
    )
    assert incident_id is not None
    _owe(connection, incident_id, "notice", names, now)
    return digest.count


# -- sending ----------------------------------------------------------------------------------


def deliver(
    services: Services, channels: Sequence[Channel]
) -> tuple[dict[str, int], dict[str, str]]:
    """Sends every owed message of these channels, one thread per channel; a channel stops at
    its first failure (the rest waits for the next evaluation, in order)."""
    owed = _owed(services, [channel.name for channel in channels])
    sent: dict[str, int] = {}
    failed: dict[str, str] = {}
    lock = threading.Lock()

    def run(channel: Channel) -> None:
        count, error = _deliver_channel(services, channel, owed.get(channel.name, []))
        with lock:
            if count:
                sent[channel.name] = count
            if error:
                failed[channel.name] = error

    threads = [
        threading.Thread(target=run, args=(channel,), name=f"alerts-{channel.name}", daemon=True)
        for channel in channels
        if owed.get(channel.name)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, failed


def _owed(services: Services, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    if not names:
        return {}
    with reading(services.engine) as connection:
        rows = (
            connection.execute(
                select(alert_sends, alert_incidents)
                .join(alert_incidents, alert_incidents.c.id == alert_sends.c.incident_id)
                .where(
                    alert_sends.c.sent_at.is_(None),
                    alert_sends.c.attempts < MAX_ATTEMPTS,
                    alert_sends.c.channel.in_(names),
                )
            )
            .mappings()
            .all()
        )
    owed: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["incident_id"], EVENTS.index(r["event"]))):
        owed.setdefault(row["channel"], []).append(dict(row))
    return owed


def _deliver_channel(
    services: Services, channel: Channel, rows: list[dict[str, Any]]
) -> tuple[int, str | None]:
    clock = services.queue.clock
    settings = services.settings
    hold = settings.alerts_timeout * 10 + 30  # a claim outlives any send
    count = 0
    for row in rows:
        key = and_(
            alert_sends.c.incident_id == row["incident_id"],
            alert_sends.c.event == row["event"],
            alert_sends.c.channel == channel.name,
        )
        now = clock()
        with services.engine.begin() as connection:
            claimed = connection.execute(
                update(alert_sends)
                .where(
                    key,
                    alert_sends.c.sent_at.is_(None),
                    or_(alert_sends.c.claimed_until.is_(None), alert_sends.c.claimed_until < now),
                )
                .values(claimed_until=now + hold, attempts=alert_sends.c.attempts + 1)
            ).rowcount
        if not claimed:
            continue  # another evaluation is sending it
        message = message_for(row, row["event"], settings)
        try:
            channel.send(message)
        except Exception as error:  # noqa: BLE001 - any failure: kept, tried next time
            text = (
                str(error)
                if isinstance(error, AlertSendError)
                else f"{type(error).__name__}: {error}"
            )
            text = text[:500]
            if row["attempts"] + 1 >= MAX_ATTEMPTS:
                text = GAVE_UP.format(attempts=MAX_ATTEMPTS) + text
            with services.engine.begin() as connection:
                connection.execute(
                    update(alert_sends).where(key).values(claimed_until=None, last_error=text)
                )
            log.warning("alert via %s not sent (tried again next minute): %s", channel.name, text)
            return count, text
        with services.engine.begin() as connection:
            connection.execute(
                update(alert_sends)
                .where(key)
                .values(sent_at=clock(), claimed_until=None, last_error=None)
            )
        count += 1
    return count, None


def send_test(
    services: Services, channels: Sequence[Channel] | None = None
) -> dict[str, str | None]:
    """Sends a test message to every channel at once: channel -> None (sent) or its error."""
    channels = list(channels_from_settings(services.settings) if channels is None else channels)
    message = test_message(services.settings, services.queue.clock())
    outcome: dict[str, str | None] = {}
    lock = threading.Lock()

    def run(channel: Channel) -> None:
        try:
            channel.send(message)
            error = None
        except Exception as failure:  # noqa: BLE001 - reported per channel
            error = str(failure) if isinstance(failure, AlertSendError) else repr(failure)
        with lock:
            outcome[channel.name] = error

    threads = [threading.Thread(target=run, args=(channel,), daemon=True) for channel in channels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {channel.name: outcome.get(channel.name) for channel in channels}


__all__ = ["Evaluation", "Message", "deliver", "evaluate", "evaluate_job", "send_test"]
