"""Editing mapping files from the console: validate with the whole set, save, keep every version.

The files in the mappings folder stay what the running service reads (`ReloadingMappings`
follows their mtime): a save writes the file (atomically: a temporary file, then a rename) and
records the new text as a version in the store (`mapping_versions`). So where the folder is a
git working copy, a console edit shows there as an uncommitted change for the admins to commit,
and the history of console edits (who, when, which text) lives in the store.

A text is saved only when the whole set validates with it in place (the same check as
`connector mappings validate`, run on a copy of the folder); otherwise every problem comes back
with its file and line. Before a file's first save, and whenever its text on disk differs from
its newest version (a `git pull`, an edit over SSH), the text on disk is recorded first as a
version `found`, so the history never skips a state the service ran on and every version can be
reverted to. A save names the text the editor was opened on (`base_hash`): when the file has
changed since, the save is refused (`StaleEdit`) instead of overwriting the other change.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select

from connector.errors import ConnectorError, MappingError
from connector.mapping.engine import MappingSet
from connector.store import reading, take_turns
from connector.store.tables import mapping_versions

SAVE, REVERT, FOUND = "save", "revert", "found"
ON_DISK = "(on disk)"
"""`saved_by` of a version `found`: a text nobody saved from the console."""


Stored = Callable[[Connection, "Version"], None]


class UnknownMappingFile(ConnectorError):
    """A path that is not a mapping file of the folder (or a version that does not exist)."""


class StaleEdit(ConnectorError):
    """The file changed since the editor was opened: saving would overwrite that change."""


class MappingRefused(ConnectorError):
    """The set does not validate with the new text; `problems` lists each error with its line."""

    def __init__(self, problems: list[MappingError]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(f"not saved: {count} problem{'s' if count != 1 else ''} in the mappings")


class FolderNotWritable(ConnectorError):
    """The mappings folder cannot be written (a read-only deployment, the bundled set)."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Version:
    id: int
    path: str
    content: str
    content_hash: str
    action: str
    reverts_to: int | None
    saved_by: str
    saved_at: float


@dataclass(frozen=True)
class FileState:
    """One file as the list shows it: its problems and where its history stands."""

    path: str
    problems: list[MappingError]
    versions: int
    last: Version | None
    changed_outside: bool  # the text on disk is not the newest version saved here


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "del" | "hunk" | "same"
    text: str


class MappingFiles:
    """The mapping files of one folder and their versions in one store."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        engine: Engine,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.engine = engine
        self.clock = clock

    # -- the files --------------------------------------------------------------------------------

    def paths(self) -> list[str]:
        """Every mapping file of the folder (`.yaml`, `.yml`; no hidden folders), with `/`."""
        found = []
        for root, dirs, files in os.walk(self.directory):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.endswith((".yaml", ".yml")):
                    relative = os.path.relpath(os.path.join(root, name), self.directory)
                    found.append(relative.replace(os.sep, "/"))
        return sorted(found, key=lambda p: (p.count("/"), p))

    def _file(self, path: str) -> Path:
        if path not in self.paths():  # only a listed file: no `..`, no other folder
            raise UnknownMappingFile(f"{path}: not a mapping file of {self.directory}")
        return self.directory.joinpath(*path.split("/"))

    def read(self, path: str) -> str:
        try:
            return self._file(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UnknownMappingFile(f"{path}: cannot read: {error}") from None

    def relative(self, error: MappingError) -> MappingError:
        """The error with its file named as inside the folder (`woocommerce/order.yaml`)."""
        return _renamed(error, self.directory)

    def states(self, problems: list[MappingError]) -> list[FileState]:
        """Each file with the given problems of the set (the service's own check) and its
        history: one query for all files."""
        by_file: dict[str, list[MappingError]] = {}
        for problem in problems:
            named = self.relative(problem)
            by_file.setdefault(named.file or "", []).append(named)
        newest = self._newest()
        found = []
        for path in self.paths():
            count, last = newest.get(path, (0, None))
            on_disk = _hash_of(self.directory.joinpath(*path.split("/")))
            found.append(
                FileState(
                    path,
                    by_file.get(path, []),
                    count,
                    last,
                    last is not None and on_disk != last.content_hash,
                )
            )
        return found

    def unplaced(self, problems: list[MappingError]) -> list[MappingError]:
        """Problems that name no file of the folder (a missing folder, a cross-file check)."""
        paths = set(self.paths())
        return [p for p in (self.relative(e) for e in problems) if p.file not in paths]

    # -- checking ---------------------------------------------------------------------------------

    def check(self, path: str, text: str) -> list[MappingError]:
        """Every problem of the whole set with `text` as the file `path`, each named as inside
        the folder; [] when the set validates. Runs on a copy: the folder is not touched."""
        self._file(path)
        with tempfile.TemporaryDirectory(prefix="mappings-check-") as scratch:
            copy = Path(scratch) / "mappings"
            shutil.copytree(
                self.directory,
                copy,
                ignore=shutil.ignore_patterns(".*"),
                symlinks=False,
            )
            copy.joinpath(*path.split("/")).write_text(text, encoding="utf-8")
            _, errors = MappingSet.check(copy)
            return [_renamed(error, copy) for error in errors]

    # -- saving -----------------------------------------------------------------------------------

    def save(
        self,
        path: str,
        text: str,
        by: str,
        base_hash: str | None = None,
        on_stored: Stored | None = None,
    ) -> Version:
        """Validates the set with `text` as `path`, writes the file and records the version.

        Raises `MappingRefused` (nothing written) when the set does not validate, `StaleEdit`
        when the file is no longer the text `base_hash` names. Saving the text already on disk
        records nothing new and returns the newest version. `on_stored(connection, version)`
        runs in the transaction that records a new version (the console's audit line).
        """
        return self._store(path, text, by, SAVE, None, base_hash, on_stored)

    def revert(self, version_id: int, by: str, on_stored: Stored | None = None) -> Version:
        """Brings a version's text back as a new version (validated like any save)."""
        old = self.version(version_id)
        return self._store(old.path, old.content, by, REVERT, old.id, None, on_stored)

    def _store(
        self,
        path: str,
        text: str,
        by: str,
        action: str,
        reverts_to: int | None,
        base_hash: str | None,
        on_stored: Stored | None = None,
    ) -> Version:
        target = self._file(path)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")  # what a browser form sends
        self._not_stale(path, base_hash)  # first: no use checking an edit of an old text
        problems = self.check(path, text)
        if problems:
            raise MappingRefused(problems)
        with self.engine.begin() as connection:
            take_turns(connection, [f"mapping_versions:{path}"])
            on_disk = self._not_stale(path, base_hash)
            newest = connection.execute(
                select(mapping_versions)
                .where(mapping_versions.c.path == path)
                .order_by(mapping_versions.c.id.desc())
                .limit(1)
            ).first()
            now = self.clock()
            if newest is None or newest.content_hash != text_hash(on_disk):
                connection.execute(
                    insert(mapping_versions).values(
                        path=path,
                        content=on_disk,
                        content_hash=text_hash(on_disk),
                        action=FOUND,
                        saved_by=ON_DISK,
                        saved_at=now,
                    )
                )
            if text == on_disk and action == SAVE:
                newest_id = connection.scalar(
                    select(func.max(mapping_versions.c.id)).where(mapping_versions.c.path == path)
                )
                return self._version_in(connection, int(newest_id))
            new_id = connection.execute(
                insert(mapping_versions)
                .values(
                    path=path,
                    content=text,
                    content_hash=text_hash(text),
                    action=action,
                    reverts_to=reverts_to,
                    saved_by=by,
                    saved_at=now,
                )
                .returning(mapping_versions.c.id)
            ).scalar_one()
            stored = self._version_in(connection, int(new_id))
            if on_stored is not None:
                on_stored(connection, stored)
            _write(target, text)  # last: a failed write rolls the version back
            return stored

    def _not_stale(self, path: str, base_hash: str | None) -> str:
        """The text on disk; `StaleEdit` when it is not the one `base_hash` names."""
        on_disk = self.read(path)
        if base_hash is not None and text_hash(on_disk) != base_hash:
            raise StaleEdit(
                f"{path} changed since you opened it (saved by someone else or changed on "
                "disk); open it again and redo your edit"
            )
        return on_disk

    # -- history ----------------------------------------------------------------------------------

    def versions(self, path: str) -> list[Version]:
        """A file's versions, newest first."""
        self._file(path)
        with reading(self.engine) as connection:
            rows = connection.execute(
                select(mapping_versions)
                .where(mapping_versions.c.path == path)
                .order_by(mapping_versions.c.id.desc())
            ).all()
        return [_version(row) for row in rows]

    def version(self, version_id: int) -> Version:
        with reading(self.engine) as connection:
            return self._version_in(connection, version_id)

    def _version_in(self, connection: Connection, version_id: int) -> Version:
        row = connection.execute(
            select(mapping_versions).where(mapping_versions.c.id == version_id)
        ).first()
        if row is None:
            raise UnknownMappingFile(f"no mapping version {version_id}")
        return _version(row)

    def previous(self, version: Version) -> Version | None:
        """The version of the same file before `version`."""
        with reading(self.engine) as connection:
            row = connection.execute(
                select(mapping_versions)
                .where(mapping_versions.c.path == version.path, mapping_versions.c.id < version.id)
                .order_by(mapping_versions.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _version(row)

    def _newest(self) -> dict[str, tuple[int, Version]]:
        v = mapping_versions.c
        with reading(self.engine) as connection:
            counts: dict[str, int] = {
                path: int(count)
                for path, count in connection.execute(select(v.path, func.count()).group_by(v.path))
            }
            last_ids = select(func.max(v.id)).group_by(v.path).scalar_subquery()
            rows = connection.execute(select(mapping_versions).where(v.id.in_(last_ids))).all()
        return {row.path: (counts[row.path], _version(row)) for row in rows}


def diff(before: str, after: str, before_name: str, after_name: str) -> list[DiffLine]:
    """A unified diff of two texts, line by line, with what each line is."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), before_name, after_name, lineterm="", n=3
    )
    found = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        found.append(DiffLine(kind, line))
    return found


def _version(row: Row[Any]) -> Version:
    r = row._mapping
    return Version(
        id=int(r["id"]),
        path=r["path"],
        content=r["content"],
        content_hash=r["content_hash"],
        action=r["action"],
        reverts_to=r["reverts_to"],
        saved_by=r["saved_by"],
        saved_at=float(r["saved_at"]),
    )


def _hash_of(file: Path) -> str | None:
    try:
        return text_hash(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def _renamed(error: MappingError, directory: Path) -> MappingError:
    if not error.file:
        return error
    where = os.path.abspath(error.file)
    root = os.path.abspath(directory)
    if os.path.commonpath([where, root]) != root:
        return error
    name = os.path.relpath(where, root).replace(os.sep, "/")
    message = error.args[0] if error.args else ""
    return MappingError(message, file=name, line=error.line, field=error.field)


def _write(target: Path, text: str) -> None:
    """Replaces the file at once: the service never reads half a file."""
    try:
        handle, scratch = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.chmod(scratch, target.stat().st_mode & 0o777)
            os.replace(scratch, target)
        except OSError:
            os.unlink(scratch)
            raise
    except OSError as error:
        raise FolderNotWritable(f"{target}: cannot write the mapping file: {error}") from None
