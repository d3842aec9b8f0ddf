"""Keeps the running service on the last good mappings while admins edit the files.

`ReloadingMappings.current` is what flows read. `reload_if_changed()` (a periodic job) and
`on_sighup` (a signal handler) reload when a file's mtime or size or the set of files changed;
an invalid edit is logged and returned, and the previous set stays in force.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from connector.errors import MappingError
from connector.mapping.engine import MappingSet
from connector.mapping.errors import format_error

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[float, int]]


class ReloadingMappings:
    """A MappingSet that follows its directory; construction fails if the first load is invalid."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)
        self._lock = threading.Lock()
        self._snapshot = self._scan()
        self.current: MappingSet = MappingSet.load(self.directory)
        self.last_errors: list[MappingError] = []

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
                self.last_errors = errors
                for error in errors:
                    log.error("mapping reload rejected: %s", format_error(error))
                log.warning("keeping the last good mappings (%d problems)", len(errors))
                return errors
            self.current = loaded
            self.last_errors = []
            log.info("mappings reloaded from %s", self.directory)
            return None

    def on_sighup(self, signum: int | None = None, frame: Any = None) -> None:
        """Signal handler: `signal.signal(signal.SIGHUP, mappings.on_sighup)`."""
        self.reload()
