"""The worker: claims due tasks and runs them on a pool of threads until told to stop."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from connector.queue import Task, worker_identity
from connector.services import Services
from connector.tasks import TaskContext

log = logging.getLogger("connector.worker")


class Worker:
    """Runs tasks with `threads` threads; a stop request finishes what it holds, then returns."""

    def __init__(
        self,
        services: Services,
        threads: int | None = None,
        poll_seconds: float | None = None,
        name: str | None = None,
    ) -> None:
        self.services = services
        self.threads = threads or services.settings.worker_threads
        self.poll_seconds = poll_seconds or services.settings.worker_poll_seconds
        self.name = name or f"{worker_identity()}:{id(self):x}"
        self.stop_event = threading.Event()
        self._slot_freed = threading.Event()
        self._in_flight: dict[int, Task] = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        self.stop_event.set()
        self._slot_freed.set()

    def run(self, grace_seconds: float = 30.0) -> None:
        """Claims and runs tasks until `stop()`; then waits for running ones, releases the rest."""
        log.info("worker %s started with %d threads", self.name, self.threads)
        with ThreadPoolExecutor(self.threads, thread_name_prefix="task") as pool:
            while not self.stop_event.is_set():
                if not self._dispatch(pool):
                    self._slot_freed.wait(self.poll_seconds)
                    self._slot_freed.clear()
            self._drain(grace_seconds)
            pool.shutdown(wait=False, cancel_futures=True)
        log.info("worker %s stopped", self.name)

    def run_until_idle(self, timeout: float = 30.0) -> int:
        """Runs due tasks on the calling thread until none is due; returns how many ran."""
        ran, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            claimed = self.services.queue.claim(self.name, limit=1)
            if not claimed:
                return ran
            self.execute(claimed[0])
            ran += 1
        return ran

    def _dispatch(self, pool: ThreadPoolExecutor) -> bool:
        with self._lock:
            free = self.threads - len(self._in_flight)
        if free <= 0:
            return False
        claimed = self.services.queue.claim(self.name, limit=free)
        for task in claimed:
            with self._lock:
                self._in_flight[task.id] = task
            future = pool.submit(self.execute, task)
            future.add_done_callback(lambda _f, task_id=task.id: self._finished(task_id))
        return len(claimed) == free

    def _finished(self, task_id: int) -> None:
        with self._lock:
            self._in_flight.pop(task_id, None)
        self._slot_freed.set()

    def _drain(self, grace_seconds: float) -> None:
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            with self._lock:
                if not self._in_flight:
                    return
            time.sleep(0.05)
        with self._lock:
            held = list(self._in_flight.values())
        log.warning("releasing %d task(s) still running after %.0fs", len(held), grace_seconds)
        self.services.queue.release(held, self.name)

    def execute(self, task: Task) -> None:
        """Runs one claimed task and records the outcome; never raises."""
        queue, metrics = self.services.queue, self.services.metrics
        started = time.perf_counter()
        try:
            handler = self.services.registry.handler(task.kind)
            handler(TaskContext(task=task, services=self.services), task.payload)
        except Exception as error:  # noqa: BLE001 - every failure is recorded and classified
            outcome = queue.fail(task, self.name, error)
            metrics.tasks.labels(task.kind, outcome).inc()
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
            return
        queue.complete(task, self.name)
        elapsed = time.perf_counter() - started
        metrics.tasks.labels(task.kind, "done").inc()
        metrics.task_seconds.labels(task.kind).observe(elapsed)
        log.debug("task %s %s done in %.1f ms", task.id, task.kind, elapsed * 1000)
