"""The API reads a hand-over only inside FIVESAFES_HANDOVER_ROOT, whatever path it is given."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.api.routes.handovers import confined_path
from fivesafes.errors import PermissionDeniedError

parts = st.sampled_from(["..", ".", "a", "b", "link", "", "/", "~", "%2e%2e"])


def test_unset_root_refuses_everything(tmp_path: Path) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        confined_path(None, str(tmp_path))
    assert caught.value.code == "handover_disabled"


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(parts, min_size=1, max_size=6), st.booleans())
def test_no_path_resolves_outside_the_root(
    tmp_path: Path, pieces: list[str], absolute: bool
) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True, exist_ok=True)
    link = root / "a" / "link"
    if not link.is_symlink():
        link.symlink_to(tmp_path)  # inside, pointing outside
    given_path = ("/" if absolute else "") + "/".join(pieces)
    try:
        resolved: Path | str = confined_path(root, given_path)
    except PermissionDeniedError as refused:
        resolved = refused.code
    if isinstance(resolved, str):
        assert resolved == "handover_outside"
    else:
        assert resolved.is_relative_to(root.resolve())
        assert resolved != root.resolve()


def test_a_directory_inside_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "job").mkdir()
    assert confined_path(tmp_path, "job") == (tmp_path / "job").resolve()
    assert confined_path(tmp_path, str(tmp_path / "job")) == (tmp_path / "job").resolve()
