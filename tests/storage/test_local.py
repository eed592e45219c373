"""What only the local directory store has to get right: paths, pruning, symlinks, a lazy walk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from payload_operator.adapters.storage.local import LocalStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "payloads"
    path.mkdir()
    return path


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/./b", "a/../../etc/passwd", "..", "a/"])
def test_keys_that_would_leave_or_blur_the_root_are_refused(root: Path, key: str) -> None:
    store = LocalStore(str(root))

    with pytest.raises(ValueError, match="not a relative object key"):
        store.put(key, b"x")
    with pytest.raises(ValueError, match="not a relative object key"):
        store.delete_batch([key])


def test_a_prefix_cannot_walk_out_of_the_root(root: Path) -> None:
    with pytest.raises(ValueError, match="not a relative object key"):
        list(LocalStore(str(root)).list("../"))


def test_delete_removes_emptied_directories_but_never_the_root(root: Path) -> None:
    store = LocalStore(str(root))
    store.put("avro/ab/one", b"1")
    store.put("avro/cd/two", b"2")

    store.delete_batch(["avro/ab/one"])
    assert sorted(p.name for p in (root / "avro").iterdir()) == ["cd"]

    store.delete_batch(["avro/cd/two"])
    assert root.is_dir()
    assert list(root.iterdir()) == []


def test_symlinks_are_neither_listed_nor_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not a payload")
    (root / "linked-dir").symlink_to(outside)
    (root / "linked-file").symlink_to(outside / "secret")
    store = LocalStore(str(root))
    store.put("real", b"r")

    assert [o.key for o in store.list("")] == ["real"]
    assert store.stat("linked-dir") is None


def test_listing_reads_directories_only_as_it_reaches_them(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(str(root))
    for shard in range(40):
        store.put(f"avro/{shard:02x}/object", b"x")
    scanned: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: str) -> object:
        scanned.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)

    first = next(iter(store.list("avro/")))

    assert first.key == "avro/00/object"
    assert len(scanned) == 2  # avro/ and avro/00/, not the other 39 shards


def test_written_objects_are_readable_by_other_users_as_the_umask_allows(root: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    store = LocalStore(str(root))

    store.put("quarantine/note.json", b"{}")
    store.copy("quarantine/note.json", "quarantine/copy.json")

    for name in ("note.json", "copy.json"):
        assert stat.S_IMODE((root / "quarantine" / name).stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in (root / "quarantine").iterdir()) == ["copy.json", "note.json"]


def test_a_missing_root_is_reported_not_treated_as_empty(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "never-created"))

    assert store.stat("k") is None
    with pytest.raises(FileNotFoundError):
        list(store.read_chunks("k"))
