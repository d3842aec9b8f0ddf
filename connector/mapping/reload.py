"""Keeps the running service on the last good mappings while admins edit the files.

`ReloadingMappings.current` is what flows read. `reload_if_changed()` (a periodic job) and
`on_sighup` (a signal handler) reload when a file's mtime or size or the set of files changed;
an invalid edit is logged and returned, and the previous set stays in force.

With a store, every set that loads valid is also saved there (`saved.py`), so a process that
starts while the files on disk are invalid runs on the last good set, with a loud warning, instead
of failing every task. Until the files are fixed `health()` says `degraded`. With no good set at
all, `current` raises `MappingsUnusable`: tasks wait for the fix instead of dying.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector.errors import MappingError, MappingsUnusable
from connector.mapping.engine import MappingSet
from connector.mapping.errors import format_error

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[float, int]]

OK, DEGRADED, UNUSABLE = "ok", "degraded", "unusable"


class ReloadingMappings:
    """A MappingSet that follows its directory, falling back on the store's last good set.

    `store` is the engine the last good set is kept in (None: memory only, as in tools and
    tests). A task that cannot be served while the files are invalid raises `MappingsUnusable`
    with a `wait` that grows with how long the files have been broken, from `retry_wait[0]` up
    to `retry_wait[1]` seconds (so waiting tasks back off, and resume soon after the fix).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        store: Engine | None = None,
        clock: Callable[[], float] = time.time,
        retry_wait: tuple[float, float] = (5.0, 300.0),
    ) -> None:
        self.directory = os.fspath(directory)
        self.store = store
        self.clock = clock
        self.retry_wait = retry_wait
        self.problems: list[MappingError] = []  # of the files on disk; empty while they are valid
        self.saved_at: float | None = None  # when the set in force was saved as the last good one
        self.from_store = False  # the set in force came from the store, not from these files
        self._current: MappingSet | None = None
        self._broken_since: float | None = None
        self._lock = threading.RLock()
        with self._lock:
            self._snapshot = self._scan()
            self._start()

    # -- what flows, health and status read -----------------------------------------------------

    @property
    def current(self) -> MappingSet:
        """The set in force; raises `MappingsUnusable` when there is none (invalid files and no
        good set saved), after looking whether the files were fixed meanwhile."""
        found = self._current
        if found is None:
            self.reload_if_changed()
            found = self._current
            if found is None:
                raise self.unusable()
        return found

    @property
    def status(self) -> str:
        """`ok`; `degraded` (files invalid, running on a good set); `unusable` (no set at all)."""
        if self._current is None:
            return UNUSABLE
        return DEGRADED if self.problems else OK

    def health(self) -> dict[str, Any]:
        """For `/healthz` and `connector status`: state, problems and the set in force's date."""
        return {
            "status": self.status,
            "problems": [format_error(error) for error in self.problems],
            "saved_at": _iso(self.saved_at),
            "from_store": self.from_store,
        }

    def unusable(self, reason: str | None = None) -> MappingsUnusable:
        """The error a task fails with while the mappings cannot serve it (a reason to wait)."""
        count = len(self.problems)
        first = f"; first: {format_error(self.problems[0])}" if self.problems else ""
        why = reason or "and no good set is saved in the store to run on"
        return MappingsUnusable(
            f"the mapping files in {self.directory} are invalid ({count} problem"
            f"{'s' if count != 1 else ''}{first}) {why}; fix them (connector mappings validate)",
            wait=self._wait(),
            problems=self.problems,
        )

    # -- following the files --------------------------------------------------------------------

    def _scan(self) -> Snapshot:
        found: Snapshot = {}
        for root, dirs, files in os.walk(self.directory):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.endswith((".yaml", ".yml")):
                    path = os.path.join(root, name)
                    try:
                        stat = os.stat(path)
                    except OSError:
                        continue
                    found[path] = (stat.st_mtime, stat.st_size)
        return found

    def changed(self) -> bool:
        """True when a mapping file was added, removed or modified since the last (re)load."""
        return self._scan() != self._snapshot

    def reload_if_changed(self) -> list[MappingError] | None:
        """Reloads when files changed; returns the errors of an invalid edit, else None."""
        if not self.changed():
            return None
        return self.reload()

    def reload(self) -> list[MappingError] | None:
        """Reloads now; on errors keeps the current set, logs every error and returns them."""
        with self._lock:
            snapshot = self._scan()
            loaded, errors = MappingSet.check(self.directory)
            self._snapshot = snapshot  # an invalid edit is reported once, not on every check
            if errors or loaded is None:
                self._broken(errors)
                for error in errors:
                    log.error("mapping reload rejected: %s", format_error(error))
                if self._current is None:
                    self._fall_back()  # another process may have saved a good set since
                else:
                    log.warning("keeping the last good mappings (%d problems)", len(errors))
                return errors
            self._use(loaded)
            log.info("mappings reloaded from %s", self.directory)
            return None

    def on_sighup(self, signum: int | None = None, frame: Any = None) -> None:
        """Signal handler: `signal.signal(signal.SIGHUP, mappings.on_sighup)`."""
        self.reload()

    # -- inside ---------------------------------------------------------------------------------

    def _start(self) -> None:
        loaded, errors = MappingSet.check(self.directory)
        if loaded is not None:
            self._use(loaded)
            return
        self._broken(errors)
        self._fall_back()

    def _use(self, loaded: MappingSet) -> None:
        loaded.on_miss = self._explain_miss
        self._current, self.from_store = loaded, False
        self.problems, self._broken_since = [], None
        self.saved_at = self._save(loaded)

    def _broken(self, errors: list[MappingError]) -> None:
        if not self.problems and self._broken_since is None:
            self._broken_since = self.clock()
        self.problems = list(errors) or [MappingError("no mappings could be loaded")]

    def _fall_back(self) -> None:
        """Runs on the store's last good set, or says loudly that there is none."""
        listing = "".join(f"\n  {format_error(error)}" for error in self.problems)
        saved = self._load_saved()
        if saved is not None:
            fallback, errors = MappingSet.from_sources(saved.files, self.directory)
            if fallback is not None:
                fallback.on_miss = self._explain_miss
                self._current, self.from_store, self.saved_at = fallback, True, saved.saved_at
                log.warning(
                    "MAPPING FILES INVALID: %d problem(s) in %s; running on the last good set, "
                    "saved %s, until they are fixed:%s",
                    len(self.problems),
                    self.directory,
                    _iso(saved.saved_at),
                    listing,
                )
                return
            log.error(
                "the saved mapping set no longer loads either (%s)",
                "; ".join(format_error(error) for error in errors),
            )
        log.error(
            "MAPPING FILES INVALID: %d problem(s) in %s and no good set saved to run on:%s",
            len(self.problems),
            self.directory,
            listing,
        )

    def _explain_miss(self, error: MappingError) -> Exception:
        """A lookup the set in force cannot answer: while the files are invalid it may be what
        the admin's pending fix adds, so the task waits; with valid files it stays an error."""
        if not self.problems:
            return error
        return self.unusable(f"and the set in force cannot serve this task ({error})")

    def _wait(self) -> float:
        low, high = self.retry_wait
        broken_for = self.clock() - (self._broken_since or self.clock())
        return max(low, min(high, broken_for))

    def _save(self, loaded: MappingSet) -> float:
        now = self.clock()
        if self.store is None or not loaded.sources:
            return now
        from sqlalchemy.exc import SQLAlchemyError

        from connector.mapping.saved import content_hash, save

        try:
            return save(self.store, loaded.sources, content_hash(loaded.sources), now)
        except SQLAlchemyError as error:  # the set is good all the same; saved on the next load
            log.error("could not save the mapping set as the last good one: %s", error)
            return now

    def _load_saved(self) -> Any:
        if self.store is None:
            return None
        from sqlalchemy.exc import SQLAlchemyError

        from connector.mapping.saved import load_saved

        try:
            return load_saved(self.store)
        except SQLAlchemyError as error:
            log.error("could not read the last good mapping set from the store: %s", error)
            return None


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
