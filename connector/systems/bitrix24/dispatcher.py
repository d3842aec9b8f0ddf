"""One dispatcher per portal: the REST commands of every running task share `batch` calls.

A task's flow calls the client as before (`client.call("crm.deal.add", ...)`); with the
dispatcher on, the command is not sent on its own but queued here, and the calling thread waits
for its own answer. A sender thread takes the portal's next request slot from the client's leaky
bucket first and only then gathers what is queued, up to 50 commands (research/bitrix24.md 3),
so while the portal's limit makes it wait, the commands of other tasks pile up and ride in the
same request: the limiter works on batches, not on tasks. When the bucket has room, the sender
waits at most `window` seconds for company, and only when the last batch showed there are
other callers (a lone caller is never delayed).

Each caller gets its own `CommandResult`: a command that fails inside the batch fails only its
caller (`parse_batch` attributes `result_error` per command); a batch call that fails as a whole
gives every caller that typed error, which each caller's retry rules then judge for its own
method (an add is never re-sent blindly).

A chain (`submit_chain`) is commands that must ride in one batch, in order, because a later one
names an earlier one's result: `$result[@0]` in its parameters becomes `$result[cN]`, the key the
first command gets in the batch (the deal's add and its product rows: one round trip, not two).
A chain is never split between batches.

Nothing here is durable, and need not be: a task killed while its command waits is claimed again
when its lease runs out and runs from the start; a command that had been sent already made its
record, which the retried task finds through its link or its `ORIGIN_ID` / duplicate search
(`tests/systems/test_bitrix24_dispatcher.py` counts the deals).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.systems.bitrix24.batch import BATCH_LIMIT, Command, CommandResult

if TYPE_CHECKING:
    from connector.systems.bitrix24.client import Bitrix24Client

SendBatch = Callable[[list[Command], bool], list[CommandResult]]
# one queued item: a single command, or a chain that rides in one batch, with their futures
Item = tuple[list[Command], list["Future[CommandResult]"]]
_CHAIN_REFERENCE = re.compile(r"\$result\[@(\d+)\]")


def placed(command: Command, offset: int) -> Command:
    """The command with its chain references (`$result[@j]`) named as in the batch, where the
    chain starts at key `c{offset}`."""

    def rename(value: object) -> object:
        if isinstance(value, str):
            return _CHAIN_REFERENCE.sub(lambda m: f"$result[c{offset + int(m.group(1))}]", value)
        if isinstance(value, dict):
            return {key: rename(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rename(item) for item in value]
        return value

    params = rename(dict(command.params))
    assert isinstance(params, dict)
    return Command(command.method, params)


@dataclass
class DispatchStats:
    """What the dispatcher sent: batch calls, commands, and the fullest batch."""

    batches: int = 0
    commands: int = 0
    largest: int = 0

    @property
    def per_batch(self) -> float:
        return self.commands / self.batches if self.batches else 0.0


class Dispatcher:
    """Gathers single commands from many threads into `batch` calls of up to 50.

    `send(commands, slot_taken)` runs one batch call (the client's `_batch_chunk`); `reserve`
    takes the next request slot and returns how long to wait for it (the client's bucket).
    `senders` batch calls may be in flight at once; idle sender threads end after
    `idle_seconds` and come back with the next command.
    """

    def __init__(
        self,
        send: SendBatch,
        reserve: Callable[[], float],
        *,
        window: float = 0.003,
        senders: int = 4,
        limit: int = BATCH_LIMIT,
        idle_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._reserve = reserve
        self.window = window
        self.senders = max(1, senders)
        self.limit = max(1, min(limit, BATCH_LIMIT))
        self.idle_seconds = idle_seconds
        self._sleep = sleep
        self._clock = clock
        self._queue: deque[Item] = deque()
        self._size = 0  # commands queued (a chain counts each of its commands)
        self._ready = threading.Condition()
        self._gate = threading.Lock()  # one sender at a time reserves a slot and gathers
        self._threads = 0
        self._busy = 0
        self._closed = False
        self._crowded = False  # the last batch held more than one command
        self.stats = DispatchStats()

    @classmethod
    def for_client(cls, client: Bitrix24Client, **options: float | int) -> Dispatcher:
        return cls(
            lambda commands, slot_taken: client._batch_chunk(
                commands, False, slot_taken=slot_taken
            ),
            client.bucket.reserve,
            sleep=client._sleep,
            **options,  # type: ignore[arg-type]
        )

    # -- callers ------------------------------------------------------------------------

    def submit(self, command: Command) -> Future[CommandResult]:
        """Queues one command; its future resolves to the command's own result or error."""
        return self.submit_chain([command])[0]

    def submit_chain(self, commands: list[Command]) -> list[Future[CommandResult]]:
        """Queues commands that go in one batch, in this order (`$result[@j]` names the j-th
        one's result); one future per command."""
        if not 0 < len(commands) <= self.limit:
            raise ValueError(f"a chain holds 1 to {self.limit} commands, not {len(commands)}")
        futures: list[Future[CommandResult]] = [Future() for _ in commands]
        with self._ready:
            if self._closed:
                raise RuntimeError("the Bitrix24 dispatcher is closed")
            self._queue.append((list(commands), futures))
            self._size += len(commands)
            if self._threads - self._busy < 1 and self._threads < self.senders:
                self._start_sender()
            self._ready.notify()
        return futures

    def run(self, command: Command) -> CommandResult:
        """Queues one command and waits for its result."""
        return self.submit(command).result()

    def pending(self) -> int:
        """Commands queued, not yet sent."""
        with self._ready:
            return self._size

    def close(self) -> None:
        """Stops taking commands; the queued ones are still sent."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    # -- senders --------------------------------------------------------------------------

    def _start_sender(self) -> None:
        self._threads += 1
        thread = threading.Thread(target=self._loop, name="bitrix24-dispatch", daemon=True)
        thread.start()

    def _loop(self) -> None:
        try:
            while True:
                taken = self._gather()
                if taken is None:
                    return
                self._deliver(taken)
        finally:
            with self._ready:
                self._threads -= 1
                if self._queue and self._threads == 0:
                    self._start_sender()  # a sender that died must not strand the queue

    def _gather(self) -> list[Item] | None:
        """Waits for a command, takes the portal's next slot, then takes up to `limit` commands.

        Returns None when the sender should end (idle, or closed with nothing queued).
        """
        with self._gate:
            with self._ready:
                deadline = self._clock() + self.idle_seconds
                while not self._queue:
                    left = deadline - self._clock()
                    if self._closed or left <= 0:
                        return None
                    self._ready.wait(left)
                self._busy += 1
            wait = self._reserve()
            if wait > 0:
                self._sleep(wait)  # the others' commands pile up meanwhile
            with self._ready:
                if wait <= 0 and self._crowded and self._size < self.limit:
                    until = self._clock() + self.window
                    while self._size < self.limit and (left := until - self._clock()) > 0:
                        self._ready.wait(left)
                taken: list[Item] = []
                count = 0
                while self._queue and count + len(self._queue[0][0]) <= self.limit:
                    item = self._queue.popleft()
                    taken.append(item)
                    count += len(item[0])
                self._size -= count
                self._crowded = count > 1
                if self._queue:
                    self._ready.notify()
                return taken

    def _deliver(self, taken: list[Item]) -> None:
        commands: list[Command] = []
        futures: list[Future[CommandResult]] = []
        for chain, chain_futures in taken:
            offset = len(commands)
            commands.extend(placed(c, offset) if len(chain) > 1 else c for c in chain)
            futures.extend(chain_futures)
        try:
            results = self._send(commands, True) if commands else []
        except BaseException as error:  # noqa: BLE001 - every caller must hear of it
            for future in futures:
                future.set_exception(error)
            with self._ready:
                self._busy -= 1
            if not isinstance(error, Exception):
                raise
            return
        with self._ready:
            self._busy -= 1
            self.stats.batches += 1
            self.stats.commands += len(commands)
            self.stats.largest = max(self.stats.largest, len(commands))
        for future, result in zip(futures, results, strict=True):
            future.set_result(result)
