"""Cascade runs and sends written straight into the store, as the engine leaves them: what the
report's and the console's tests read (they test the reading, not the engine)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert

from connector.store.tables import cascade_runs, cascade_sends

MEDIUM = {"mandrill": "email", "mailchimp": "email", "smsru": "sms", "twilio": "sms",
          "telegram": "messenger", "whatsapp": "messenger"}  # fmt: skip


@dataclass(frozen=True)
class Send:
    step: int
    channel: str
    state: str = "sent"  # reserved | sent | skipped | failed | unknown
    status: str | None = None  # the provider's delivery status
    reason: str | None = None
    address: str | None = None
    at: float | None = None  # sent_at (defaults to the run's start + step hours)


def add_run(
    engine: Engine,
    scenario: str,
    customer_id: str,
    state: str = "running",
    *,
    started_at: float,
    took: float | None = None,  # seconds from start to the end (converted, stopped, finished)
    step: int | None = None,
    stop_reason: str | None = None,
    converted_step: int | None = None,
    converted_ref: str | None = None,
    sends: Sequence[Send] = (),
) -> int:
    """One run with its send rows; its id."""
    ended = started_at + took if took is not None else None
    with engine.begin() as connection:
        run_id = connection.execute(
            insert(cascade_runs).values(
                scenario=scenario,
                customer_id=customer_id,
                trigger_key=f"{scenario}:{customer_id}:{started_at}",
                trigger={
                    "event": "cart.abandoned",
                    "ref": f"cart-{customer_id}",
                    "at": started_at,
                    "data": {},
                },  # fmt: skip
                state=state,
                step=step if step is not None else len(sends),
                started_at=started_at,
                updated_at=ended or started_at,
                ended_at=ended,
                stop_reason=stop_reason,
                converted_step=converted_step,
                converted_ref=converted_ref,
            )
        ).inserted_primary_key[0]
        for send in sends:
            moment = send.at if send.at is not None else started_at + 3600 * send.step
            connection.execute(
                insert(cascade_sends).values(
                    run_id=run_id,
                    step=send.step,
                    idem_key=f"{run_id}:{send.step}",
                    customer_id=customer_id,
                    channel=send.channel,
                    medium=MEDIUM.get(send.channel, "sms"),
                    marketing=1,
                    state=send.state,
                    reason=send.reason,
                    address=send.address,
                    provider_id=f"{send.channel}-{run_id}-{send.step}"
                    if send.state == "sent"
                    else None,
                    status=send.status,
                    created_at=moment,
                    sent_at=moment if send.state == "sent" else None,
                    status_at=moment + 60 if send.status else None,
                )
            )
    return int(run_id)
