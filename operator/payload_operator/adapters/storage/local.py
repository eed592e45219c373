"""A local directory shared with the server (single-node setups); keys are relative paths under it.

Thread-safety: stateless apart from the root path; every call opens its own file handles. Writes go
to a temporary file renamed into place, so a concurrent reader sees the old or the new bytes.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from payload_operator.adapters.storage import errors
from payload_operator.adapters.storage.base import (
    BatchResult,
    BucketNotFound,
    StorageAccessDenied,
    StorageError,
)
from payload_operator.adapters.storage.bulk import check_batch
from payload_operator.planning.objects import ObjectInfo

PROVIDER = "local"


class LocalStore:
    """Objects are the regular files under `root`; symlinks are never followed out of it."""

    scheme = "file"
    delete_batch_size = 1000  # no provider limit; matches S3 so sweeps report in similar steps

    def __init__(self, root: str) -> None:
        self.bucket = root
        self._root = Path(root)

    def probe(self) -> None:
        with self._errors("probe"), os.scandir(self._root) as entries:
            next(entries, None)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """A walk sorted per directory: flat memory, and still global key order because a directory
        sorts as "name/", the prefix all of its keys share."""
        self._require_root("list")
        directory = prefix.rpartition("/")[0]
        if directory:
            self._path(directory)  # refuses "..", so the walk cannot leave the root
        with self._errors("list"):
            yield from self._walk(directory, prefix, start_after)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors("stat", key):
                st = self._path(key).stat(follow_symlinks=False)
        except FileNotFoundError:
            return None
        return _info(key, st) if S_ISREG(st.st_mode) else None  # a directory is no object

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self._errors("read", key), self._path(key).open("rb") as file:
            while chunk := file.read(chunk_size):
                yield chunk

    def read_into(self, key: str, buffer: bytearray) -> Iterator[int]:
        """Fill `buffer` from the object again and again; yields how many bytes each fill holds.
        The caller must use them before asking for the next (integrity hashing reuses one buffer)."""
        with self._errors("read", key):
            fd = os.open(self._path(key), os.O_RDONLY)
            try:
                while count := os.readv(fd, [buffer]):
                    yield count
            finally:
                os.close(fd)

    def put(self, key: str, data: bytes) -> None:
        with self._errors("put", key):
            self._replace(key, lambda target: target.write(data))

    def copy(self, source_key: str, target_key: str) -> None:
        with self._errors("copy", source_key), self._path(source_key).open("rb") as source:
            self._replace(target_key, lambda target: shutil.copyfileobj(source, target))

    def delete_batch(self, keys: Sequence[str]) -> BatchResult:
        check_batch(keys, self.delete_batch_size)
        self._require_root("delete")  # else every key would look "already gone"
        result = BatchResult()
        for key in keys:
            path = self._path(key)
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError):
                pass  # already gone counts as deleted, as on S3
            except OSError as exc:
                result.errors[key] = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
                continue
            result.deleted.append(key)
            self._prune(path.parent)
        return result

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own handles."""

    def _walk(self, directory: str, prefix: str, start_after: str | None) -> Iterator[ObjectInfo]:
        try:
            with os.scandir(self._root / directory) as scan:
                entries = sorted(((_sort_key(directory, e), e) for e in scan), key=lambda pair: pair[0])
        except (FileNotFoundError, NotADirectoryError):
            return
        for sort_key, entry in entries:
            if entry.is_dir(follow_symlinks=False):
                # sort_key is "<dir key>/": the prefix every key below shares.
                overlaps = sort_key.startswith(prefix) or prefix.startswith(sort_key)
                passed = start_after is not None and sort_key < start_after and not start_after.startswith(sort_key)
                if overlaps and not passed:
                    yield from self._walk(sort_key.rstrip("/"), prefix, start_after)
            elif entry.is_file(follow_symlinks=False) and sort_key.startswith(prefix):
                if start_after is not None and sort_key <= start_after:
                    continue
                try:
                    yield _info(sort_key, entry.stat(follow_symlinks=False))
                except FileNotFoundError:
                    continue  # deleted since the directory was read

    def _require_root(self, operation: str) -> None:
        if not self._root.is_dir():
            raise BucketNotFound(f"{PROVIDER} {operation} failed: {self.bucket} is not a directory")

    def _path(self, key: str) -> Path:
        segments = key.split("/")
        if not key or "\0" in key or any(s in ("", ".", "..") for s in segments):
            raise ValueError(f"not a relative object key: {key!r}")
        return self._root.joinpath(*segments)

    def _replace(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        # Not mkstemp: its 0600 would hide the object from the server and workers under another uid.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as target:
                write(target)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _prune(self, directory: Path) -> None:
        """Remove directories a delete left empty, up to but never including the root."""
        while directory != self._root and self._root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return  # not empty (or already gone): stop climbing
            directory = directory.parent

    def _errors(self, operation: str, key: str | None = None) -> AbstractContextManager[None]:
        return errors.translated(lambda exc: translate(exc, operation, key, self.bucket))


def _sort_key(directory: str, entry: os.DirEntry[str]) -> str:
    key = f"{directory}/{entry.name}" if directory else entry.name
    return f"{key}/" if entry.is_dir(follow_symlinks=False) else key


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))


def translate(exc: Exception, operation: str, key: str | None, root: str) -> Exception | None:
    """The StorageError for an OS error under the root; None for anything else."""
    if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
        if key is None:
            return BucketNotFound(f"{PROVIDER} {operation} failed: {root} is not a directory")
        return errors.missing(key)  # the key, not the local path, names what is missing
    if isinstance(exc, PermissionError):
        return StorageAccessDenied(f"{PROVIDER} {operation} failed: permission denied under {root}")
    if isinstance(exc, OSError):
        return StorageError(f"{PROVIDER} {operation} failed: {errno.errorcode.get(exc.errno or 0, 'OSError')}")
    return None
