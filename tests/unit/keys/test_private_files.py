"""The one set of rules for key files: refused if others can reach them, written whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.errors import ConfigurationError
from fivesafes.keys.private_files import (
    check_private,
    create_private,
    read_private,
    replace_private,
    shred,
)


def _private(path: Path, data: bytes = b"k" * 32) -> Path:
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return path


@settings(max_examples=40, deadline=None)
@given(mode=st.integers(0o400, 0o777).filter(lambda m: m & 0o077 and m & 0o400))
def test_a_file_the_group_or_others_can_reach_is_refused(
    tmp_path_factory: pytest.TempPathFactory, mode: int
) -> None:
    path = _private(tmp_path_factory.mktemp("modes") / "k.key")
    os.chmod(path, mode)
    with pytest.raises(ConfigurationError, match=rf"mode {mode:04o}\); run `chmod 600 ") as exc:
        read_private(path, what="key file", limit=64)
    assert str(path) in str(exc.value)
    assert "kkkk" not in str(exc.value)


def test_a_private_file_is_read_up_to_the_limit(tmp_path: Path) -> None:
    path = _private(tmp_path / "k.key", b"0123456789")
    assert read_private(path, what="key file", limit=4) == b"0123"
    assert read_private(path, what="key file", limit=64) == b"0123456789"


def test_a_symlink_or_a_folder_is_not_a_key_file(tmp_path: Path) -> None:
    target = _private(tmp_path / "real.key")
    link = tmp_path / "link.key"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="cannot open key file"):
        read_private(link, what="key file", limit=64)
    folder = tmp_path / "folder.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigurationError, match="is not a regular file"):
        read_private(folder, what="key file", limit=64)


def test_a_missing_file_gives_the_callers_message(tmp_path: Path) -> None:
    absent = tmp_path / "absent.key"
    with pytest.raises(ConfigurationError, match=r"^run keys init$"):
        read_private(absent, what="key file", limit=64, missing="run keys init")
    with pytest.raises(ConfigurationError, match=r"cannot open key file .*absent\.key"):
        read_private(absent, what="key file", limit=64)


def test_only_the_listed_modes_pass_when_modes_are_given(tmp_path: Path) -> None:
    path = _private(tmp_path / "pin")
    os.chmod(path, 0o700)
    check_private(path, what="PIN file")  # no group or other bits: fine in general
    with pytest.raises(ConfigurationError, match="it must be 0600 or 0400"):
        read_private(path, what="PIN file", limit=64, modes=(0o600, 0o400))
    os.chmod(path, 0o400)
    assert read_private(path, what="PIN file", limit=64, modes=(0o600, 0o400)) == b"k" * 32


def test_a_folder_is_checked_with_the_mode_to_set(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    os.chmod(folder, 0o755)
    with pytest.raises(ConfigurationError, match=r"key store folder .* run `chmod 700 "):
        check_private(folder, what="key store folder", wanted="700")
    os.chmod(folder, 0o700)
    check_private(folder, what="key store folder", wanted="700")


def test_create_never_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "new.key"
    create_private(target, b"first")
    assert target.read_bytes() == b"first"
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        create_private(target, b"second")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.key"]


def test_replace_rewrites_in_one_step(tmp_path: Path) -> None:
    target = _private(tmp_path / "k.wrapped", b"old")
    before = target.stat().st_ino
    replace_private(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_ino != before  # a new file renamed over, never written in place
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.wrapped"]


def test_shred_overwrites_the_blocks_then_deletes(tmp_path: Path) -> None:
    target = _private(tmp_path / "k.key", b"s" * 32)
    second_link = tmp_path / "k.link"
    os.link(target, second_link)  # sees the same blocks after the unlink
    shred(target)
    assert not target.exists()
    assert second_link.read_bytes() != b"s" * 32
    assert len(second_link.read_bytes()) == 32
    shred(target)  # already gone: nothing to do
