"""The last good mapping set, kept in the store so a restart with a broken file can run on it.

One row (`mapping_sets`, name `last_good`) holds the text of every file of the last set that
validated, its content hash and when it was saved. `ReloadingMappings` saves a set whenever one
loads valid and differs from the saved one, and reads it back when the files on disk are invalid.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from connector.store import reading, take_turns
from connector.store.tables import mapping_sets

LAST_GOOD = "last_good"


def content_hash(files: dict[str, str]) -> str:
    """sha256 of the files (path -> text), independent of their order."""
    canonical = json.dumps(sorted(files.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SavedSet:
    files: dict[str, str]
    content_hash: str
    saved_at: float


def load_saved(engine: Engine) -> SavedSet | None:
    """The saved set, or None when no set has validated yet on this store."""
    with reading(engine) as connection:
        row = (
            connection.execute(select(mapping_sets).where(mapping_sets.c.name == LAST_GOOD))
            .mappings()
            .first()
        )
    if row is None:
        return None
    return SavedSet(dict(row["files"]), row["content_hash"], row["saved_at"])


def save(engine: Engine, files: dict[str, str], digest: str, now: float) -> float:
    """Keeps `files` as the last good set unless it is already the saved one; returns the saved
    set's date (unchanged when the same files were saved before)."""
    with engine.begin() as connection:
        take_turns(connection, ["mapping_sets"])  # two processes starting at once: one row
        found = connection.execute(
            select(mapping_sets.c.content_hash, mapping_sets.c.saved_at).where(
                mapping_sets.c.name == LAST_GOOD
            )
        ).first()
        if found is not None and found.content_hash == digest:
            return float(found.saved_at)
        values = {"content_hash": digest, "files": files, "saved_at": now}
        if found is None:
            connection.execute(insert(mapping_sets).values(name=LAST_GOOD, **values))
        else:
            connection.execute(
                update(mapping_sets).where(mapping_sets.c.name == LAST_GOOD).values(**values)
            )
    return now
