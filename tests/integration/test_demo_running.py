"""`fivesafes demo` while a demo runs: refused at once, with nothing changed.

The running demo is played by :func:`only_demo` itself (the lock a real demo holds for its
lifetime; ``flock`` conflicts between two opens of the file, in one process or two) and by
a socket listening on the demo's address (a `fivesafes serve` started by hand).
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes import schema
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app
from fivesafes.config import Settings, load_settings
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.demo.running import address_in_use, lock_path, only_demo
from fivesafes.errors import ConflictError
from fivesafes.identity import passwords, service
from fivesafes.identity.models import Role

runner = CliRunner()


@pytest.fixture
def demo_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A database that already holds a demo user with a password, as after a first demo."""
    url = f"sqlite:///{tmp_path / 'var' / 'fivesafes.db'}"
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.setenv("COLUMNS", "200")
    schema.upgrade(url)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        user = service.create_user(
            session, AuditTrail.for_operator(), "researcher", Role.RESEARCHER
        )
        passwords.set_password(session, AuditTrail.for_operator(), user, "the first demo's pw")
    engine.dispose()
    return load_settings()


def _database_digest(settings: Settings) -> str:
    path = Path(settings.database_url.split("///", 1)[1])
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_second_demo_on_the_same_database_is_refused_and_changes_nothing(
    demo_settings: Settings,
) -> None:
    before = _database_digest(demo_settings)
    with only_demo(demo_settings, serving=False):
        result = runner.invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 1, result.output
    assert "error (demo_running)" in result.output
    assert "a demo is already running on this database" in result.output
    assert "nothing was changed" in result.output
    assert _database_digest(demo_settings) == before  # passwords, tokens, audit: untouched
    assert not demo_settings.keystore_path.exists()


def test_a_demo_is_refused_while_its_address_is_in_use(
    demo_settings: Settings, listening: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_HOST", "127.0.0.1")
    monkeypatch.setenv("FIVESAFES_PORT", str(listening))
    before = _database_digest(demo_settings)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1, result.output
    assert f"http://127.0.0.1:{listening} is already in use" in result.output
    assert _database_digest(demo_settings) == before
    assert not demo_settings.keystore_path.exists()


def test_the_lock_is_held_by_another_process_too(demo_settings: Settings) -> None:
    lock = lock_path(demo_settings)
    with only_demo(demo_settings, serving=False):
        assert lock.read_text().strip().isdigit()  # the holder's pid, for a person looking
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys\n"
                "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                "except BlockingIOError:\n    sys.exit(3)\n",
                str(lock),
            ],
            check=False,
        )
        assert probe.returncode == 3
    assert oct(lock.stat().st_mode & 0o777) == "0o600"


def test_the_lock_ends_with_the_demo(demo_settings: Settings) -> None:
    with (
        only_demo(demo_settings, serving=False),
        pytest.raises(ConflictError),
        only_demo(demo_settings, serving=False),
    ):
        pass
    with only_demo(demo_settings, serving=False):  # the first one ended: free again
        pass


def test_a_port_is_in_use_only_while_someone_listens() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        server.listen()
        assert address_in_use("127.0.0.1", port)
    assert not address_in_use("127.0.0.1", port)
