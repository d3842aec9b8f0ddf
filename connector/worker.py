"""The worker: claims due tasks and runs them on a pool of threads until told to stop."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy.exc import SQLAlchemyError

from connector.errors import Wait
from connector.queue import Task, worker_identity
from connector.services import Services
from connector.tasks import TaskContext

log = logging.getLogger("connector.worker")


class Worker:
    """Runs tasks with `threads` threads; a stop request finishes what it holds, then returns.

    One dispatcher thread does the queue's bookkeeping: it claims tasks in batches (up to two per
    thread, so threads never wait for a claim) and marks finished tasks done in one write. A
    heartbeat thread renews the leases of every task the worker holds (running, claimed ahead,
    or finished but not yet recorded) every third of a lease, in one write, so a task may run
    for longer than the lease and a dead worker's tasks return one lease after its last beat.
    """

    def __init__(
        self,
        services: Services,
        threads: int | None = None,
        poll_seconds: float | None = None,
        name: str | None = None,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.services = services
        self.threads = threads or services.settings.worker_threads
        self.poll_seconds = poll_seconds or services.settings.worker_poll_seconds
        self.name = name or f"{worker_identity()}:{id(self):x}"
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._held: dict[int, tuple[Task, Future[None]]] = {}
        self._finished: list[Task] = []
        self._next_sweep = 0.0
        self._heartbeat_seconds = heartbeat_seconds
        self._heartbeat_stop = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()

    def run(self, grace_seconds: float = 30.0) -> None:
        """Claims and runs tasks until `stop()`; then finishes running ones, releases the rest."""
        log.info("worker %s started with %d threads", self.name, self.threads)
        self._heartbeat_stop.clear()
        heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        heartbeat.start()
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="task") as pool:
                while not self.stop_event.is_set():
                    try:
                        self._housekeeping()
                        busy = self._dispatch(pool)  # records finished tasks as it claims
                    except SQLAlchemyError as error:  # the store is away: keep the worker alive
                        log.error("worker %s: store unavailable (%s); retrying", self.name, error)
                        self.stop_event.wait(1.0)
                        continue
                    if not busy:
                        self._wake.wait(self.poll_seconds)
                        self._wake.clear()
                self._shut_down(grace_seconds)  # the heartbeat goes on while tasks finish
        finally:
            self._heartbeat_stop.set()
            heartbeat.join(timeout=30)
        log.info("worker %s stopped", self.name)

    def run_until_idle(self, timeout: float = 30.0) -> int:
        """Runs due tasks on the calling thread until none is due; returns how many ran."""
        ran, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            claimed = self.services.queue.claim(self.name, limit=1)
            if not claimed:
                return ran
            if self.execute(claimed[0]):
                self.services.queue.complete(claimed[0], self.name)
            ran += 1
        return ran

    def _dispatch(self, pool: ThreadPoolExecutor) -> bool:
        """Records the tasks finished since the last round and claims as many tasks as there is
        room for, in one transaction; True when the room was filled."""
        with self._lock:
            room = 2 * self.threads - len(self._held)
            finished, self._finished = self._finished, []
        try:
            claimed = self.services.queue.claim(self.name, limit=max(room, 0), finished=finished)
        except BaseException:
            with self._lock:  # not recorded: keep them for the next round
                self._finished[:0] = finished
            raise
        if room <= 0:
            return False
        for task in claimed:
            with self._lock:
                future = pool.submit(self._run_and_report, task)
                self._held[task.id] = (task, future)
        return len(claimed) == room

    def _beat(self) -> None:
        """The heartbeat thread: renews leases until the worker has stopped."""
        every = self._heartbeat_seconds or self.services.queue.policy.lease_seconds / 3
        while not self._heartbeat_stop.wait(every):
            try:
                self._renew_leases()
            except SQLAlchemyError as error:  # the store is away: the next beat tries again
                log.error("worker %s: cannot renew leases (%s); retrying", self.name, error)

    def _renew_leases(self) -> None:
        """Renews the lease of every task held; one another worker has claimed (this worker's
        lease ran out, say while the store was away) is not taken back and, if it has not
        started here yet, not run here either."""
        with self._lock:
            held = [*self._held, *(task.id for task in self._finished)]
        if not held:
            return
        renewed = set(self.services.queue.renew(self.name, held))
        with self._lock:
            lost = [i for i in held if i not in renewed and i in self._held]
            not_started = [i for i in lost if self._held[i][1].cancel()]
            for task_id in not_started:
                self._held.pop(task_id)
        for task_id in lost:
            log.warning(
                "task %s: this worker's lease ran out and another worker claimed it; %s",
                task_id,
                "not running it here" if task_id in not_started else "it may run twice",
            )

    def _run_and_report(self, task: Task) -> None:
        succeeded = self.execute(task)
        with self._lock:
            self._held.pop(task.id, None)
            if succeeded:
                self._finished.append(task)
        self._wake.set()

    def _flush_finished(self) -> None:
        with self._lock:
            finished, self._finished = self._finished, []
        try:
            self.services.queue.complete_many(finished, self.name)
        except BaseException:
            with self._lock:  # not recorded: keep them for the next flush
                self._finished[:0] = finished
            raise

    def _housekeeping(self, every_seconds: float = 5.0) -> None:
        """Now and then: follow edited mapping files, and free keyed tasks whose promotion a
        concurrent race lost (possible on PostgreSQL)."""
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + every_seconds
        if "mappings" in self.services.__dict__:  # loaded by a flow: follow the admin's edits
            self.services.mappings.reload_if_changed()
        if promoted := self.services.queue.promote_orphans():
            log.warning("promoted %d waiting task(s) left without a task ahead", promoted)

    def _shut_down(self, grace_seconds: float) -> None:
        with self._lock:
            not_started = [task for task, future in self._held.values() if future.cancel()]
            for task in not_started:
                self._held.pop(task.id)
        self.services.queue.release(not_started, self.name)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            with self._lock:
                if not self._held:
                    break
            time.sleep(0.02)
        self._flush_finished()
        with self._lock:
            still_running = [task for task, _ in self._held.values()]
        if still_running:
            log.warning(
                "releasing %d task(s) still running after %.0fs", len(still_running), grace_seconds
            )
            self.services.queue.release(still_running, self.name)

    def execute(self, task: Task) -> bool:
        """Runs one claimed task; records a failure at once and returns whether it succeeded."""
        queue, metrics = self.services.queue, self.services.metrics
        started = time.perf_counter()
        try:
            handler = self.services.registry.handler(task.kind)
            with queue.at_priority(task.priority):  # what it enqueues is as urgent as it is
                handler(TaskContext(task=task, services=self.services), task.payload)
        except Exception as error:  # noqa: BLE001 - every failure is recorded and classified
            outcome = queue.fail(task, self.name, error)
            metrics.tasks.labels(task.kind, outcome).inc()
            if isinstance(error, Wait) and outcome == "queued":  # a normal wait, no failure
                log.info("task %s %s %s; again in %.1fs", task.id, task.kind, error, error.wait)
                return False
            level = logging.ERROR if outcome == "dead" else logging.WARNING
            log.log(
                level,
                "task %s %s attempt %d failed (%s): %s",
                task.id,
                task.kind,
                task.attempts,
                outcome,
                error,
            )
            return False
        elapsed = time.perf_counter() - started
        metrics.tasks.labels(task.kind, "done").inc()
        metrics.task_seconds.labels(task.kind).observe(elapsed)
        log.debug("task %s %s done in %.1f ms", task.id, task.kind, elapsed * 1000)
        return True
