"""Retained release copies as files: what is written is what reads back, bound to its
release and its key; every kind of tampering fails; KEK rotation keeps them readable."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.errors import ConfigurationError, ConflictError
from fivesafes.keys.envelope import SEGMENT_BYTES
from fivesafes.keys.kek_rotation import rotate_kek
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.store import InMemoryKeyStore
from fivesafes.keys.wrapping import unpack_blob
from fivesafes.release.retained import (
    RetainedCopy,
    RetainedCopyError,
    RetainedCopyWriter,
    read_copy_file,
    retained_copy_path,
)
from fivesafes.release.retained_file import (
    ABANDONED_AFTER_SECONDS,
    HEADER_BYTES,
    LOCK_NAME,
    RetainedCopyHeaders,
    Wrapping,
    destroy_file,
    folder_lock,
    partial_paths,
    remove_abandoned_partials,
)

KEYS = InMemoryKeyStore.generate()


def _payload(size: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"release-{seed}".encode()).digest(size) if size else b""


def _write(folder: Path, chunks: list[bytes], store: Wrapping = KEYS) -> uuid.UUID:
    release_id = uuid.uuid4()
    writer = RetainedCopyWriter(folder, store, release_id)
    for chunk in chunks:
        writer.write(chunk)
    writer.publish()
    return release_id


def _open(folder: Path, release_id: uuid.UUID, data: bytes, store: Wrapping = KEYS) -> RetainedCopy:
    return read_copy_file(
        folder,
        store,
        release_id,
        file_name="grant-1-release-x.csv",
        byte_count=len(data),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_NAME)


def test_round_trip_private_files_and_nothing_in_clear(tmp_path: Path) -> None:
    folder = tmp_path / "var" / "release-copies"  # made, parents and all
    data = b"nhs_number,postcode\n" + _payload(3 * SEGMENT_BYTES + 17)
    release_id = _write(folder, [data[:100], data[100:]])
    path = retained_copy_path(folder, release_id)
    assert _files(folder) == [path.name]  # no temporary left
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    on_disk = path.read_bytes()
    assert b"nhs_number" not in on_disk
    assert data[200:264] not in on_disk
    copy = _open(folder, release_id, data)
    assert copy.read() == data
    assert (copy.file_name, copy.byte_count) == ("grant-1-release-x.csv", len(data))
    assert "data_key" not in repr(copy)
    assert "header" not in repr(copy)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sizes=st.lists(st.integers(0, 2 * SEGMENT_BYTES + 3), max_size=6))
def test_any_chunking_reads_back_the_same_bytes(tmp_path: Path, sizes: list[int]) -> None:
    chunks = [_payload(n, seed) for seed, n in enumerate(sizes)]
    data = b"".join(chunks)
    release_id = _write(tmp_path, chunks)
    assert _open(tmp_path, release_id, data).read() == data
    assert sum(len(c) for c in _open(tmp_path, release_id, data).chunks()) == len(data)


def _flip(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (0, "not a retained copy"),  # magic
        (8, "is the copy of release"),  # the release id in the header
        (HEADER_BYTES - 1, "does not open"),  # the wrapped data key
        (HEADER_BYTES + 70, "does not open"),  # the envelope's own header
        (-1, "does not open"),  # the last segment's tag
        (-(SEGMENT_BYTES // 2), "does not open"),  # inside the body
    ],
)
def test_a_flipped_byte_anywhere_is_refused(tmp_path: Path, where: int, message: str) -> None:
    data = _payload(2 * SEGMENT_BYTES + 5)
    release_id = _write(tmp_path, [data])
    path = retained_copy_path(tmp_path, release_id)
    _flip(path, where % path.stat().st_size)
    with pytest.raises(RetainedCopyError, match=message):
        _open(tmp_path, release_id, data).read()


@pytest.mark.parametrize("cut", [1, 17, SEGMENT_BYTES + 16 + 4])
def test_a_truncated_copy_is_refused(tmp_path: Path, cut: int) -> None:
    data = _payload(2 * SEGMENT_BYTES + 5)
    release_id = _write(tmp_path, [data])
    path = retained_copy_path(tmp_path, release_id)
    os.truncate(path, path.stat().st_size - cut)
    with pytest.raises(RetainedCopyError, match=r"truncated|does not open"):
        _open(tmp_path, release_id, data).read()


def test_a_copy_swapped_between_releases_is_refused(tmp_path: Path) -> None:
    first, second = _payload(1000, 1), _payload(1000, 2)
    a, b = _write(tmp_path, [first]), _write(tmp_path, [second])
    shutil.copyfile(retained_copy_path(tmp_path, a), retained_copy_path(tmp_path, b))
    with pytest.raises(RetainedCopyError, match=f"kept for release {b} is the copy of release {a}"):
        _open(tmp_path, b, first)
    # The header's release id rewritten too: the wrapped key is bound to release a.
    raw = bytearray(retained_copy_path(tmp_path, b).read_bytes())
    raw[8:24] = b.bytes
    retained_copy_path(tmp_path, b).write_bytes(bytes(raw))
    with pytest.raises(RetainedCopyError, match="does not open"):
        _open(tmp_path, b, first)


def test_a_copy_with_other_bytes_than_its_record_is_refused(tmp_path: Path) -> None:
    data = _payload(5000)
    release_id = _write(tmp_path, [data])
    with pytest.raises(RetainedCopyError, match="not what was released"):
        _open(tmp_path, release_id, data + b"x").read()


def test_another_key_store_cannot_open_a_copy(tmp_path: Path) -> None:
    data = _payload(5000)
    release_id = _write(tmp_path, [data])
    with pytest.raises(RetainedCopyError, match="does not open"):
        _open(tmp_path, release_id, data, InMemoryKeyStore.generate())


def test_a_missing_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ConflictError, match="file is missing") as caught:
        _open(tmp_path, uuid.uuid4(), b"")
    assert caught.value.code == "release_copy_unavailable"
    assert str(tmp_path) not in caught.value.message  # server paths stay in the log


def test_a_discarded_copy_leaves_no_file(tmp_path: Path) -> None:
    writer = RetainedCopyWriter(tmp_path, KEYS, uuid.uuid4())
    writer.write(_payload(SEGMENT_BYTES * 2))
    assert len(_files(tmp_path)) == 1  # the temporary, hidden
    writer.discard()
    assert _files(tmp_path) == []
    published = RetainedCopyWriter(tmp_path, KEYS, uuid.uuid4())
    published.publish()
    published.discard()  # a commit whose transaction failed: the named file goes too
    assert _files(tmp_path) == []


def test_partials_abandoned_by_a_dead_process_are_shredded_live_ones_kept(
    tmp_path: Path,
) -> None:
    """A server killed mid-stream leaves its partial copy; the periodic sweep shreds it
    once nobody has written to it for the idle time, and leaves streams in progress."""
    abandoned = RetainedCopyWriter(tmp_path, KEYS, uuid.uuid4())
    abandoned.write(_payload(SEGMENT_BYTES * 2))
    live = RetainedCopyWriter(tmp_path, KEYS, uuid.uuid4())
    live.write(_payload(SEGMENT_BYTES * 2))
    kept = _write(tmp_path, [_payload(100)])  # a finished copy is never a partial
    (old,) = [p for p in partial_paths(tmp_path) if p.name.startswith(f".{abandoned.release_id}")]
    now = old.stat().st_mtime + ABANDONED_AFTER_SECONDS
    os.utime(old, (now - ABANDONED_AFTER_SECONDS - 1, now - ABANDONED_AFTER_SECONDS - 1))
    assert remove_abandoned_partials(tmp_path, now) == 1
    assert [p.name.startswith(f".{live.release_id}") for p in partial_paths(tmp_path)] == [True]
    assert retained_copy_path(tmp_path, kept).exists()
    assert remove_abandoned_partials(tmp_path, now) == 0
    live.write(_payload(10))
    live.publish()  # the live stream finishes as if nothing happened
    assert retained_copy_path(tmp_path, live.release_id).exists()


def test_destroying_a_copy_overwrites_its_key_and_deletes_it(tmp_path: Path) -> None:
    release_id = _write(tmp_path, [_payload(100)])
    path = retained_copy_path(tmp_path, release_id)
    assert destroy_file(path) is True
    assert not path.exists()
    assert destroy_file(path) is False


def test_kek_rotation_rewraps_copies_and_copies_being_written(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    folder = tmp_path / "copies"
    data = _payload(SEGMENT_BYTES + 9)
    done = _write(folder, [data], store)
    ongoing_id = uuid.uuid4()
    ongoing = RetainedCopyWriter(folder, store, ongoing_id)
    ongoing.write(data[:10])
    old_id = store.kek_ids()[0]
    result = rotate_kek(store, [RetainedCopyHeaders(folder)])
    new_id = store.kek_ids()[0]
    assert new_id != old_id
    assert result.rewrapped == result.total == 2
    ongoing.write(data[10:])
    ongoing.publish()
    reopened = LocalFileKeyStore(tmp_path / "keys")  # a restart: nothing cached
    for release_id in (done, ongoing_id):
        header = retained_copy_path(folder, release_id).read_bytes()[:HEADER_BYTES]
        assert unpack_blob(header[24:])[0] == new_id
        assert _open(folder, release_id, data, reopened).read() == data
    # A second rotation that forgot the copies would leave them under a destroyed KEK.
    rotate_kek(store)
    with pytest.raises(RetainedCopyError, match="does not open"):
        _open(folder, done, data, LocalFileKeyStore(tmp_path / "keys"))


def test_a_copy_started_during_a_rotation_waits_for_it(tmp_path: Path) -> None:
    started: list[RetainedCopyWriter] = []
    with folder_lock(tmp_path, exclusive=True):  # what rotate_kek holds
        thread = threading.Thread(
            target=lambda: started.append(RetainedCopyWriter(tmp_path, KEYS, uuid.uuid4()))
        )
        thread.start()
        thread.join(0.3)
        assert started == []  # it has not wrapped a key under the KEK being retired
        assert _files(tmp_path) == []
    thread.join(5)
    assert len(started) == 1
    started[0].discard()


def test_a_folder_that_cannot_be_made_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigurationError, match="FIVESAFES_RELEASE_COPIES_PATH") as caught:
        RetainedCopyWriter(tmp_path / "file" / "copies", KEYS, uuid.uuid4())
    assert str(tmp_path) not in caught.value.message
