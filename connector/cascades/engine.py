"""The cascade engine: trigger events start runs, each step is a task due at its time, a
purchase stops every run it converts, and a step's message is sent exactly once.

- `notify(...)`: a flow tells the engine about an event inside its own transaction; the engine
  queues a `cascade.event` task (deduplicated, ordered per customer), only when some enabled
  scenario starts or stops on that event.
- `cascade.event`: stops or converts the customer's runs the event ends, and starts a run of
  every scenario it triggers (one per scenario and trigger: `uq_cascade_runs_trigger`), whose
  first step is a `cascade.step` task with `run_at` at its due time.
- `cascade.step`: checks the run and its stop conditions in the store, then per channel of the
  step consent, address, opt-out and cap (a step no channel can send is recorded `skipped` with
  the reasons and the run goes on), postpones to the end of the quiet hours, reserves the send
  (`cascade_sends` row `reserved`, committed), calls the channel, records the provider's id and
  queues the next step. See docs/cascades.md for what happens when a worker dies where.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, select, update

from connector import keys
from connector.cascades import timezones
from connector.cascades.channels import Channel, Message, Sent, channel
from connector.cascades.outcomes import opted_out
from connector.cascades.rules import (
    CascadeRules,
    Scenario,
    Step,
    render,
    rules_for,
    template_fields,
)
from connector.errors import AuthError, ConfigError, PermanentError, RateLimited, Wait
from connector.flows.hub import load_snapshot
from connector.http import RequestNotSent
from connector.identity import as_moment, jsonable
from connector.logs import mask
from connector.store.tables import cascade_runs, cascade_sends, channel_optouts, tasks

if TYPE_CHECKING:
    from connector.services import Services
    from connector.tasks import TaskContext

log = logging.getLogger("connector.cascades")

EVENT_KIND = "cascade.event"
STEP_KIND = "cascade.step"
TIMELINE_KIND = "push.bitrix24.cascade"
RUNNING, CONVERTED, STOPPED, FINISHED = "running", "converted", "stopped", "finished"
RESERVED, SENT, SKIPPED, FAILED, UNKNOWN = "reserved", "sent", "skipped", "failed", "unknown"

# The events the flows emit (connector/flows/carts.py, orders.py, delivery/shipments.py,
# analytics/keeper.py, loyalty/tasks.py), and the scenario trigger each starts.
CART_UPDATED, CART_CLOSED = "cart.updated", "cart.closed"
ORDER_PLACED, ORDER_STATUS = "order.placed", "order.status"
SHIPMENT_STATUS, SEGMENT_ENTERED, BONUS_EXPIRING = (
    "shipment.status",
    "segment.entered",
    "bonus.expiring",
)
STARTS = {CART_UPDATED: "cart.left"}
# the events that end runs: a purchase, a closed cart, a collected parcel
ENDING = (ORDER_PLACED, CART_CLOSED, SHIPMENT_STATUS)
BOUGHT_ACTIONS = ("converted", "ordered", "purchased")
COLLECTED = ("delivered",)


# --------------------------------------------------------------------------- notify


def notify(
    services: Services,
    connection: Connection,
    event: str,
    customer_id: str | None,
    ref: Any,
    data: Mapping[str, Any] | None = None,
    at: float | None = None,
) -> int | None:
    """Queues `cascade.event` inside the caller's transaction, when an enabled scenario starts
    or stops on `event` (else nothing: no scenario, no task). `ref` is the record the event is
    about (a cart, an order); `data` its details (`status`, `segment`, `version`...). A
    duplicated event (same event, ref and version) is a no-op."""
    if not customer_id:
        return None
    try:
        rules = rules_for(services.settings)
    except Wait:
        rules = None  # the file is being fixed: queue it, the task waits for the fix
    if rules is not None and not _concerns(rules, event):
        return None
    moment = services.queue.clock() if at is None else float(at)
    details = dict(jsonable(dict(data or {})))
    version = details.get("version") or details.get("status") or details.get("segment") or moment
    payload = {
        "event": event,
        "customer_id": str(customer_id),
        "ref": None if ref is None else str(ref),
        "data": details,
        "at": moment,
    }
    return services.queue.enqueue(
        EVENT_KIND,
        payload,
        dedupe_key=keys.cascade_event(event, customer_id, ref, version),
        ordering_key=keys.cascade_customer(customer_id),
        connection=connection,
    )


def _concerns(rules: CascadeRules, event: str) -> bool:
    wanted = STARTS.get(event, event)
    for scenario in rules.enabled():
        if scenario.trigger.event == wanted:
            return True
        if event in ENDING and scenario.stops:
            return True
    return False


def trigger_key(event: str, customer_id: str, ref: str | None, data: Mapping[str, Any]) -> str:
    """What makes two events the same trigger of a scenario for one customer: a cart (whatever
    its updates), an order's status, a parcel's state, a segment entry at its moment, a named
    event's ref."""
    key = f"{event}:{customer_id}:{ref or ''}"
    for name in ("status", "segment", "version"):
        if data.get(name) is not None and not (event == CART_UPDATED and name == "version"):
            key += f":{data[name]}"
    return key[:300]


# --------------------------------------------------------------------------- cascade.event


def handle_event(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `cascade.event` {event, customer_id, ref, data, at}."""
    services = ctx.services
    rules = rules_for(services.settings)
    now = services.queue.clock()
    with services.engine.begin() as connection:
        converted = end_runs(connection, services, rules, payload, now)
        started = start_runs(connection, services, rules, payload, now)
    if converted or started:
        log.info(
            "cascade event %s: %d run(s) started, %d ended",
            payload["event"],
            len(started),
            len(converted),
        )


def matches(scenario: Scenario, event: str, data: Mapping[str, Any]) -> bool:
    """Whether `event` starts `scenario` (its trigger and filters)."""
    trigger = scenario.trigger
    if trigger.event != STARTS.get(event, event):
        return False
    if event == CART_UPDATED and not data.get("open", True):
        return False
    if trigger.statuses and str(data.get("status")) not in trigger.statuses:
        return False
    if trigger.segment is not None and str(data.get("segment")) != trigger.segment:
        return False
    return all(str(data.get(k)) == str(v) for k, v in trigger.where.items())


def start_runs(
    connection: Connection,
    services: Services,
    rules: CascadeRules,
    payload: Mapping[str, Any],
    now: float,
) -> list[int]:
    """A run of each enabled scenario the event triggers (none twice for one trigger)."""
    event, data = payload["event"], payload.get("data") or {}
    cid, at = payload["customer_id"], float(payload.get("at") or now)
    started = []
    for scenario in rules.enabled():
        if not matches(scenario, event, data):
            continue
        key = trigger_key(event, cid, payload.get("ref"), data)
        held = connection.execute(
            select(cascade_runs.c.id).where(
                cascade_runs.c.scenario == scenario.name, cascade_runs.c.trigger_key == key
            )
        ).scalar()
        if held is not None:
            continue
        trigger = {"event": event, "ref": payload.get("ref"), "at": at, "data": dict(data)}
        run_id = connection.execute(
            cascade_runs.insert()
            .values(
                scenario=scenario.name,
                customer_id=cid,
                trigger_key=key,
                trigger=trigger,
                state=RUNNING,
                step=0,
                started_at=now,
                updated_at=now,
            )
            .returning(cascade_runs.c.id)
        ).scalar_one()
        due = max(at + scenario.trigger.after, now) + scenario.steps[0].delay
        _queue_step(connection, services, run_id, 0, due)
        started.append(int(run_id))
    return started


def _queue_step(
    connection: Connection, services: Services, run_id: int, step: int, due: float
) -> None:
    services.queue.enqueue(
        STEP_KIND,
        {"run_id": int(run_id), "step": step},
        dedupe_key=keys.cascade_step(run_id, step),
        run_at=due,
        connection=connection,
    )


def end_runs(
    connection: Connection,
    services: Services,
    rules: CascadeRules,
    payload: Mapping[str, Any],
    now: float,
) -> list[int]:
    """Converts or stops the customer's running runs this event ends: a purchase converts
    every run with `order_placed` (or `cart_bought`) that began before it; a closed cart ends
    the runs it started; a collected parcel stops its pickup reminders."""
    event, data, ref = payload["event"], payload.get("data") or {}, payload.get("ref")
    if event not in ENDING:
        return []
    at = float(payload.get("at") or now)
    rows = connection.execute(
        select(cascade_runs).where(
            cascade_runs.c.customer_id == payload["customer_id"], cascade_runs.c.state == RUNNING
        )
    ).all()
    ended = []
    for run in rows:
        scenario = rules.get(run.scenario)
        stops = scenario.stops if scenario else frozenset()
        trigger = run.trigger or {}
        own = str(trigger.get("ref")) == str(ref)
        if event == ORDER_PLACED and stops & {"order_placed", "cart_bought"}:
            if float(trigger.get("at") or 0) <= at:
                finish(connection, services, run, CONVERTED, "order placed", now, ref=ref)
                ended.append(run.id)
        elif event == CART_CLOSED and own and "cart_bought" in stops:
            if data.get("action") in BOUGHT_ACTIONS:
                finish(connection, services, run, CONVERTED, "cart bought", now, ref=ref)
            else:
                finish(connection, services, run, STOPPED, "cart closed", now)
            ended.append(run.id)
        elif (
            event == SHIPMENT_STATUS
            and own
            and "parcel_collected" in stops
            and data.get("status") in COLLECTED
        ):
            finish(connection, services, run, STOPPED, "parcel collected", now)
            ended.append(run.id)
    return ended


def finish(
    connection: Connection,
    services: Services,
    run: Any,
    state: str,
    reason: str | None,
    now: float,
    ref: Any = None,
) -> None:
    """Ends a run: its pending step tasks are discarded; a conversion records the last step
    sent and the order, and is written to the CRM timeline."""
    values: dict[str, Any] = {"state": state, "updated_at": now, "ended_at": now}
    if reason:
        values["stop_reason"] = reason[:200]
    if state == CONVERTED:
        if isinstance(ref, str) and ref.startswith("customer:"):
            ref = newest_order(connection, ref.removeprefix("customer:"))
        last = connection.execute(
            select(func.max(cascade_sends.c.step)).where(
                cascade_sends.c.run_id == run.id, cascade_sends.c.state.in_((SENT, UNKNOWN))
            )
        ).scalar()
        values["converted_step"] = last
        values["converted_ref"] = None if ref is None else str(ref)[:200]
    changed = connection.execute(
        update(cascade_runs)
        .where(cascade_runs.c.id == run.id, cascade_runs.c.state == RUNNING)
        .values(**values)
    ).rowcount
    if not changed:
        return
    pending = keys.cascade_step(run.id, int(run.step))  # a run has one step task due at a time
    connection.execute(
        update(tasks)
        .where(tasks.c.dedupe_key == pending, tasks.c.state.in_(("queued", "waiting")))
        .values(state="discarded", finished_at=now, last_error=f"cascade run {state}")
    )
    told = state == CONVERTED and values.get("converted_step") is not None
    if told and "bitrix24" in services.systems and services.enabled("bitrix24"):
        services.queue.enqueue(
            TIMELINE_KIND,
            {"run_id": int(run.id)},
            dedupe_key=keys.cascade_timeline(run.id),
            ordering_key=keys.record("contact", "bitrix24", run.customer_id),
            connection=connection,
        )


# --------------------------------------------------------------------------- cascade.step


@dataclass(frozen=True)
class Stop:
    """A stop condition that holds: the run's end state, why, and the order that converted."""

    state: str
    reason: str
    ref: Any = None


@dataclass
class Choice:
    """The channel a step goes through, or why none can send it."""

    name: str | None = None
    channel: Channel | None = None
    address: str | None = None
    reasons: list[str] = field(default_factory=list)


def handle_step(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Task `cascade.step` {run_id, step}: see the module docstring."""
    run_step(ctx.services, int(payload["run_id"]), int(payload["step"]))


def run_step(services: Services, run_id: int, index: int) -> str:
    """One step of one run; returns what happened (`sent`, `skipped`, `stopped: ...`...)."""
    rules = rules_for(services.settings)
    now = services.queue.clock()
    engine = services.engine
    with engine.begin() as connection:
        run = _lock_run(connection, run_id)
        if run is None:
            return "nothing to do"
        held = _send_row(connection, run_id, index)
    if held is not None and held.state == RESERVED:  # even when the run ended since
        return _settle_reserved(services, rules, run_id, index, held, now)
    with engine.begin() as connection:
        run = _lock_run(connection, run_id)
        if run is None or run.state != RUNNING or int(run.step) != index:
            return "nothing to do"
        scenario = rules.get(run.scenario)
        if scenario is None or not scenario.enabled:
            finish(connection, services, run, STOPPED, "scenario removed or disabled", now)
            return "stopped: scenario removed or disabled"
        if index >= len(scenario.steps):
            finish(connection, services, run, FINISHED, None, now)
            return "finished"
        step = scenario.steps[index]
    if held is not None:  # recorded already; the run moves on
        with engine.begin() as connection:
            run = _lock_run(connection, run_id)
            if run is not None and run.state == RUNNING and int(run.step) == index:
                advance(connection, services, scenario, run, now)
        return str(held.state)
    records = load_records(engine, run)
    stop = stop_reason(engine, scenario, run, records, services)
    if stop is not None:
        with engine.begin() as connection:
            run = _lock_run(connection, run_id)
            if run is not None and run.state == RUNNING:
                finish(connection, services, run, stop.state, stop.reason, now, ref=stop.ref)
        return f"{stop.state}: {stop.reason}"
    wait = _cart_wait(scenario, records, now)
    if wait:
        raise Wait(f"cascade run {run_id}: the cart changed since; waiting until it is left", wait)
    choice = choose(services, engine, scenario, step, records["customer"], now)
    if choice.channel is None:
        with engine.begin() as connection:
            run = _lock_run(connection, run_id)
            if run is None or run.state != RUNNING or int(run.step) != index:
                return "nothing to do"
            reason = "; ".join(choice.reasons) or "no channel"
            _insert_send(connection, run, step, step.channels[0] if step.channels else "-",
                         "-", SKIPPED, now, reason=reason)  # fmt: skip
            advance(connection, services, scenario, run, now)
        return f"skipped: {reason}"
    assert choice.name is not None and choice.address is not None
    quiet = quiet_until(services, scenario, choice, records["customer"], now)
    if quiet is not None:
        wait = quiet_wait(quiet, now)
        raise Wait(f"cascade run {run_id}: quiet hours until {quiet:%H:%M} local", wait)
    message = build_message(services, run, step, choice, records)
    with engine.begin() as connection:  # stop conditions again, and the reservation, at once
        run = _lock_run(connection, run_id)
        if run is None or run.state != RUNNING or int(run.step) != index:
            return "nothing to do"
        if _send_row(connection, run_id, index) is not None:
            return "nothing to do"  # another worker reserved it in between
        stop = stop_reason(connection, scenario, run, load_records(connection, run), services)
        if stop is not None:
            finish(connection, services, run, stop.state, stop.reason, now, ref=stop.ref)
            return f"{stop.state}: {stop.reason}"
        medium = choice.channel.medium
        _insert_send(connection, run, step, choice.name, medium, RESERVED, now,
                     address=choice.address)  # fmt: skip
    return _send(services, scenario, run_id, index, choice, message, now)


def _send(
    services: Services,
    scenario: Scenario,
    run_id: int,
    index: int,
    choice: Choice,
    message: Message,
    now: float,
) -> str:
    assert choice.channel is not None
    try:
        sent = choice.channel.send(services, message)
    except (RateLimited, RequestNotSent, AuthError):
        # surely not sent (asked to slow down, no connection made, credentials refused): the
        # reservation goes, and the task's retry sends it under the same key
        with services.engine.begin() as connection:
            connection.execute(
                cascade_sends.delete().where(
                    cascade_sends.c.idem_key == message.key, cascade_sends.c.state == RESERVED
                )
            )
        raise
    except PermanentError as error:
        _record(services, scenario, run_id, index, FAILED, None, str(error), now)
        return f"failed: {error}"
    _record(services, scenario, run_id, index, SENT, sent, None, now)
    log.info(
        "cascade run %s step %s sent by %s to %s (%s)",
        run_id,
        index + 1,
        choice.name,
        masked(choice.channel.medium, choice.address),
        sent.provider_id,
    )
    return "sent"


def _settle_reserved(
    services: Services, rules: CascadeRules, run_id: int, index: int, held: Any, now: float
) -> str:
    """A retry that finds the send reserved: the worker before it may have sent. The channel
    is asked (`find_sent`) when it can tell; else the send is `unknown` and never repeated."""
    scenario = rules.get(held_scenario(services, run_id) or "")
    if scenario is not None and not scenario.enabled:
        scenario = None
    found: Sent | None = None
    try:
        chosen = channel(services, held.channel)
    except ConfigError:
        chosen = None
    if chosen is not None and chosen.lookup:
        message = Message(key=held.idem_key, customer_id=held.customer_id, address=held.address)
        found = chosen.find_sent(services, message, float(held.created_at))
        if found is None:  # the provider never got it: send it now, under the same key
            with services.engine.begin() as connection:
                run = _lock_run(connection, run_id)
                if run is None or run.state != RUNNING or scenario is None:
                    connection.execute(cascade_sends.delete().where(cascade_sends.c.id == held.id))
                    return "nothing to do"
                records = load_records(connection, run)
            step = scenario.steps[index]
            choice = Choice(held.channel, chosen, held.address)
            message = build_message(services, run, step, choice, records)
            return _send(services, scenario, run_id, index, choice, message, now)
    if found is not None:
        _record(services, scenario, run_id, index, SENT, found, None, now)
        return "sent"
    _record(services, scenario, run_id, index, UNKNOWN, None,
            "reserved, then the worker stopped; not sent again", now)  # fmt: skip
    return "unknown"


def held_scenario(services: Services, run_id: int) -> str | None:
    with services.engine.connect() as connection:
        name: str | None = connection.execute(
            select(cascade_runs.c.scenario).where(cascade_runs.c.id == run_id)
        ).scalar()
    return name


def _record(
    services: Services,
    scenario: Scenario | None,
    run_id: int,
    index: int,
    state: str,
    sent: Sent | None,
    reason: str | None,
    now: float,
) -> None:
    """After the provider call: the send's outcome and the run's next step, in one write (a
    run whose scenario was removed or disabled since stops instead)."""
    values: dict[str, Any] = {"state": state}
    if sent is not None:
        values |= {"provider_id": sent.provider_id, "status": sent.status, "sent_at": now,
                   "status_at": now}  # fmt: skip
    if state == UNKNOWN:
        values["sent_at"] = now  # counts towards caps: it may have gone
    if reason:
        values["reason"] = reason[:200]
    with services.engine.begin() as connection:
        connection.execute(
            update(cascade_sends)
            .where(cascade_sends.c.run_id == run_id, cascade_sends.c.step == index)
            .values(**values)
        )
        run = _lock_run(connection, run_id)
        if run is None or run.state != RUNNING or int(run.step) != index:
            return
        if scenario is None:
            finish(connection, services, run, STOPPED, "scenario removed or disabled", now)
        else:
            advance(connection, services, scenario, run, now)


def advance(
    connection: Connection, services: Services, scenario: Scenario, run: Any, now: float
) -> None:
    """The run's next step is queued after its delay; after the last one the run finishes."""
    following = int(run.step) + 1
    connection.execute(
        update(cascade_runs)
        .where(cascade_runs.c.id == run.id)
        .values(step=following, updated_at=now)
    )
    if following >= len(scenario.steps):
        connection.execute(
            update(cascade_runs)
            .where(cascade_runs.c.id == run.id, cascade_runs.c.state == RUNNING)
            .values(state=FINISHED, ended_at=now)
        )
        return
    _queue_step(connection, services, run.id, following, now + scenario.steps[following].delay)


# --------------------------------------------------------------------------- the checks


def load_records(target: Any, run: Any) -> dict[str, Any]:
    """The customer and the records of the run's trigger, as the store holds them now."""
    trigger = run.trigger or {}
    ref, event, data = trigger.get("ref"), trigger.get("event"), trigger.get("data") or {}
    records: dict[str, Any] = {
        "customer": load_snapshot(target, "customer", run.customer_id) or {},
        "event": dict(data),
    }
    if event == CART_UPDATED and ref:
        records["cart"] = load_snapshot(target, "cart", ref) or {}
    elif event in (ORDER_PLACED, ORDER_STATUS) and ref:
        records["order"] = load_snapshot(target, "order", ref) or {}
    elif event == SHIPMENT_STATUS and ref:
        from connector.delivery.shipments import shipment_of

        records["order"] = load_snapshot(target, "order", ref) or {}
        link = shipment_of(target, ref)
        held = dict(link.data) if link else {}
        records["shipment"] = held | {"carrier": link.system if link else None, "id": ref}
    elif event == SEGMENT_ENTERED:
        records["segment"] = {"name": data.get("segment"), "previous": data.get("previous")}
    elif event == BONUS_EXPIRING:
        records["bonus"] = {"amount": data.get("amount"), "date": data.get("date")}
    return records


def stop_reason(
    target: Any,
    scenario: Scenario,
    run: Any,
    records: Mapping[str, Any],
    services: Services | None = None,
) -> Stop | None:
    """The stop condition that holds in the store now, else None. Opt-outs are looked up for
    her phone and email and, given `services`, her address on each messenger of the scenario
    (a blocked Telegram bot is recorded for her chat)."""
    trigger = run.trigger or {}
    started = float(trigger.get("at") or run.started_at)
    customer = records.get("customer") or {}
    stops = scenario.stops
    if stops & {"order_placed", "cart_bought"}:
        last = as_moment(jsonable((customer.get("custom") or {}).get("last_order_at")))
        if last is not None and last.timestamp() >= started:
            return Stop(CONVERTED, "order placed", customer_last_order(customer))
    cart = records.get("cart")
    closed = cart is not None and not (cart or {}).get("custom", {}).get("open", True)
    if "cart_bought" in stops and (cart == {} or closed):
        return Stop(STOPPED, "cart closed")
    shipment = records.get("shipment")
    if shipment and "parcel_collected" in stops and shipment.get("state") in COLLECTED:
        return Stop(STOPPED, "parcel collected")
    if stops & {"unsubscribed", "blocked"}:
        if "unsubscribed" in stops and customer.get("marketing_consent") is False:
            return Stop(STOPPED, "unsubscribed")
        addresses = [a for a in (customer.get("phone"), customer.get("email")) if a]
        if services is not None:
            addresses += _messenger_addresses(services, scenario, customer)
        held = _optouts(target, addresses)
        for reason in held:
            if "unsubscribed" in stops and "block" not in reason.lower():
                return Stop(STOPPED, f"unsubscribed ({reason})")
            if "blocked" in stops and "block" in reason.lower():
                return Stop(STOPPED, f"blocked ({reason})")
    return None


def _messenger_addresses(
    services: Services, scenario: Scenario, customer: Mapping[str, Any]
) -> list[str]:
    found = []
    names = dict.fromkeys(name for step in scenario.steps for name in step.channels)
    for name in names:
        if not services.enabled(name):
            continue
        held = channel(services, name)
        if held.medium == "messenger":
            address = held.address(services, customer)
            if address:
                found.append(address)
    return found


def customer_last_order(customer: Mapping[str, Any]) -> str | None:
    """The customer's id, to find her newest order by when the run ends (`newest_order`)."""
    found = customer.get("id")
    return None if found is None else f"customer:{found}"


def newest_order(connection: Connection, customer_id: str) -> str | None:
    """The newest hub order of a customer: what converted a run the step found converted."""
    from connector.store.tables import links

    found = connection.execute(
        select(links.c.canonical_id)
        .where(
            links.c.entity == "order",
            links.c.system == "hub",
            links.c.data["customer_id"].as_string() == customer_id,
        )
        .order_by(links.c.id.desc())
        .limit(1)
    ).scalar()
    return None if found is None else str(found)


def _optouts(target: Any, addresses: Sequence[str]) -> list[str]:
    if not addresses:
        return []
    query = select(channel_optouts.c.reason).where(channel_optouts.c.address.in_(addresses))
    if isinstance(target, Connection):
        return [str(r) for r in target.execute(query).scalars()]
    with target.connect() as connection:
        return [str(r) for r in connection.execute(query).scalars()]


def _cart_wait(scenario: Scenario, records: Mapping[str, Any], now: float) -> float:
    """A cart changed since it was left waits `after` from its last change."""
    cart = records.get("cart")
    if not cart or scenario.trigger.event != "cart.left":
        return 0.0
    changed = as_moment(jsonable(cart.get("updated_at")))
    if changed is None:
        return 0.0
    due = changed.timestamp() + scenario.trigger.after
    return due - now if due - now > 1.0 else 0.0


def choose(
    services: Services,
    target: Any,
    scenario: Scenario,
    step: Step,
    customer: Mapping[str, Any],
    now: float,
) -> Choice:
    """The first of the step's channels that may send to her, or every reason none may."""
    reasons: list[str] = []
    if step.marketing and customer.get("marketing_consent") is not True:
        return Choice(reasons=["no marketing consent"])
    for name in step.channels:
        if not services.enabled(name):
            reasons.append(f"{name}: not configured")
            continue
        found = channel(services, name)
        address = found.address(services, customer)
        if not address:
            reasons.append(f"{name}: no address")
            continue
        held = _opted_out(target, found.medium, address)
        if held:
            reasons.append(f"{name}: opted out ({held})")
            continue
        cap = scenario.caps.get(found.medium)
        if cap is not None:
            count = _sends_since(target, str(customer.get("id") or ""), found.medium,
                                 now - cap.seconds)  # fmt: skip
            if count >= cap.count:
                reasons.append(f"{name}: cap {cap.medium} {cap.text} reached")
                continue
        return Choice(name, found, address, reasons)
    return Choice(reasons=reasons)


def _opted_out(target: Any, medium: str, address: str) -> str | None:
    if isinstance(target, Connection):
        return opted_out(target, medium, address)
    with target.connect() as connection:
        return opted_out(connection, medium, address)


def _sends_since(target: Any, customer_id: str, medium: str, since: float) -> int:
    query = select(func.count()).where(
        and_(
            cascade_sends.c.customer_id == customer_id,
            cascade_sends.c.medium == medium,
            cascade_sends.c.sent_at >= since,
            cascade_sends.c.state.in_((SENT, UNKNOWN)),
        )
    )
    if isinstance(target, Connection):
        return int(target.execute(query).scalar() or 0)
    with target.connect() as connection:
        return int(connection.execute(query).scalar() or 0)


def quiet_until(
    services: Services,
    scenario: Scenario,
    choice: Choice,
    customer: Mapping[str, Any],
    now: float,
) -> dt.datetime | None:
    """The local end of the quiet window when `now` falls inside it, else None."""
    if scenario.quiet_hours is None:
        return None
    phone = choice.address if choice.channel and choice.channel.medium == "sms" else None
    zone = timezones.zone_of(phone or customer.get("phone"), services.settings.cascades_time_zone)
    local = dt.datetime.fromtimestamp(now, zone)
    end = scenario.quiet_hours.end_after(local)
    return None if end == local else end


def quiet_wait(end: dt.datetime, now: float) -> float:
    return max(end.timestamp() - now, 1.0)


# --------------------------------------------------------------------------- the message


def context_of(records: Mapping[str, Any]) -> dict[str, Any]:
    """`{"customer.first_name": ..., "cart.checkout_url": ...}` for the safe formatter."""
    flat: dict[str, Any] = {}
    for record, values in records.items():
        for name, value in (values or {}).items():
            if not isinstance(value, dict | list):
                flat[f"{record}.{name}"] = jsonable(value)
    return flat


def build_message(
    services: Services, run: Any, step: Step, choice: Choice, records: Mapping[str, Any]
) -> Message:
    """The step rendered for the chosen channel, its variables merged in."""
    assert choice.channel is not None and choice.address is not None
    context = context_of(records)
    variables_of = getattr(choice.channel, "variables", None)
    if callable(variables_of) and _bare_fields(step):  # a start link is made only when used
        context.update(variables_of(services, records.get("customer") or {}))
    rendered = {name: render(text, context) or "" for name, text in step.variables.items()}
    return Message(
        key=f"{run.id}:{step.index}",
        customer_id=str(run.customer_id),
        address=choice.address,
        text=render(step.text, context),
        subject=render(step.subject, context),
        template=step.template,
        variables=rendered,
        marketing=step.marketing,
        language=step.language or (records.get("customer") or {}).get("language"),
    )


def _bare_fields(step: Step) -> set[str]:
    """The channel variables (`{telegram_link}`: no record) the step's texts use."""
    texts = [step.text or "", step.subject or "", *step.variables.values()]
    return {name for text in texts for name in template_fields(text) if "." not in name}


def masked(medium: str, address: str | None) -> str:
    """An address as logs and listings show it (phones and emails keep only their edges)."""
    if not address:
        return "-"
    shown = mask(address)
    return shown if shown != address or medium != "messenger" else address[:2] + "***"


# --------------------------------------------------------------------------- the store


def _lock_run(connection: Connection, run_id: int) -> Any:
    query = select(cascade_runs).where(cascade_runs.c.id == run_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return connection.execute(query).first()


def _send_row(connection: Connection, run_id: int, index: int) -> Any:
    return connection.execute(
        select(cascade_sends).where(cascade_sends.c.idem_key == f"{run_id}:{index}")
    ).first()


def _insert_send(
    connection: Connection,
    run: Any,
    step: Step,
    name: str,
    medium: str,
    state: str,
    now: float,
    *,
    address: str | None = None,
    reason: str | None = None,
) -> None:
    connection.execute(
        cascade_sends.insert().values(
            run_id=run.id,
            step=step.index,
            idem_key=f"{run.id}:{step.index}",
            customer_id=run.customer_id,
            channel=name[:30],
            medium=medium[:20],
            marketing=1 if step.marketing else 0,
            state=state,
            reason=None if reason is None else reason[:200],
            address=address,
            created_at=now,
        )
    )
