"""The distinct objects a history walk referenced, kept in a temporary SQLite file.

Objects are content-addressed, so millions of references may name a few objects and duplicates arrive
in any order. An in-memory set would grow with the bucket; SQLite keeps them on disk with a fixed page
cache, and hands them back one key directory at a time (the unit a listing walks through).
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from payload_operator.tasks.integrity.hashing import Check

CACHE_KIB = 16 * 1024


class ReferenceSet:
    """Distinct (key, claimed size) pairs grouped by directory; close() removes the file."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="payload-operator-refs-")
        self._db = sqlite3.connect(Path(self._dir.name) / "refs.sqlite")
        self._db.executescript(
            f"""
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -{CACHE_KIB};
            CREATE TABLE refs (directory TEXT, key TEXT, size INTEGER, PRIMARY KEY (directory, key, size))
                WITHOUT ROWID;
            """
        )

    def add(self, key: str, size: int) -> None:
        """Remember that a reference claims `key` holds `size` bytes (repeats are ignored)."""
        self._db.execute("INSERT OR IGNORE INTO refs VALUES (?, ?, ?)", (directory_of(key), key, size))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(DISTINCT key) FROM refs").fetchone()[0])

    def directories(self) -> list[str]:
        """Every directory holding referenced keys, in key order (at most a few hundred per prefix)."""
        return [row[0] for row in self._db.execute("SELECT DISTINCT directory FROM refs ORDER BY directory")]

    def in_directory(self, directory: str) -> dict[str, Check]:
        """The checks for one directory, keyed by object key (a key directory is 1/256 of the payloads)."""
        checks: dict[str, Check] = {}
        rows = self._db.execute("SELECT key, size FROM refs WHERE directory = ? ORDER BY key, size", (directory,))
        for key, size in rows:
            previous = checks.get(key)
            sizes = (*previous.sizes, size) if previous else (size,)
            checks[key] = Check(key, sha256=key.rpartition("/")[2], sizes=sizes)
        return checks

    def close(self) -> None:
        """Drop the database and its directory."""
        self._db.close()
        self._dir.cleanup()


def directory_of(key: str) -> str:
    """The directory part of a key ("" for a key at the top)."""
    return key.rpartition("/")[0]
