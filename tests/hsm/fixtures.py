"""Pytest fixtures for SoftHSM2 tokens (registered by tests/conftest.py).

One SoftHSM2 configuration (its ``SOFTHSM2_CONF`` file and token folder) per test
session: SoftHSM2 reads that variable once, when the module is first initialised in the
process, so every token of the session lives in the same folder. ``softhsm_token`` is a
session-wide token for tests that only read; a test that creates keys asks for
``fresh_softhsm_token`` (or calls :meth:`SoftHsm.new_token`), because token objects
outlive the test and a second ``keys init`` on the same token is (rightly) refused.

Tests skip, saying why, only where the SoftHSM2 module is not installed; ``.ci/run``
installs the ``softhsm2`` package, so CI always runs them.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
_SKIP_REASON = (
    f"SoftHSM2 is not installed ({SOFTHSM_MODULE} is missing): "
    "`apt-get install softhsm2` (.ci/run does this)"
)


@dataclass(frozen=True)
class SoftHsmToken:
    """An initialised token: its label, PINs and a 0600 file holding the user PIN."""

    module: Path
    label: str
    pin: str
    so_pin: str
    pin_file: Path

    def settings_overrides(self, keystore_path: Path) -> dict[str, Any]:
        """Keyword arguments for ``load_settings`` selecting this token."""
        return {
            "keystore": "pkcs11",
            "keystore_path": keystore_path,
            "pkcs11_module": self.module,
            "pkcs11_token": self.label,
            "pkcs11_pin_file": self.pin_file,
        }

    def environment(self, keystore_path: Path) -> dict[str, str]:
        """The same selection as ``FIVESAFES_*`` variables (for the CLI or a subprocess)."""
        return {
            "FIVESAFES_KEYSTORE": "pkcs11",
            "FIVESAFES_KEYSTORE_PATH": str(keystore_path),
            "FIVESAFES_PKCS11_MODULE": str(self.module),
            "FIVESAFES_PKCS11_TOKEN": self.label,
            "FIVESAFES_PKCS11_PIN_FILE": str(self.pin_file),
        }


class SoftHsm:
    """The session's SoftHSM2 configuration; makes tokens in its folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tokens = root / "tokens"
        self.tokens.mkdir(mode=0o700)
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {self.tokens}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )
        self._numbers = itertools.count(1)

    def new_token(self, *, pin: str | None = None) -> SoftHsmToken:
        """Initialise a new, empty token and make the loaded module see it.

        Re-initialising the module (C_Finalize + C_Initialize) is how a running process
        learns of a token made after it loaded SoftHSM2; it closes every open session in
        this process, so call it before opening the stores under test, not in between.
        """
        number = next(self._numbers)
        label = f"fivesafes-test-{os.getpid()}-{number}"
        pin = pin or secrets.token_hex(8)
        so_pin = secrets.token_hex(8)
        util = shutil.which("softhsm2-util") or "/usr/bin/softhsm2-util"
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
        )
        pin_file = self.root / f"{label}.pin"
        fd = os.open(pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, f"{pin}\n".encode())
        finally:
            os.close(fd)
        import pkcs11  # noqa: PLC0415 (every test session loads this plugin; few need pkcs11)

        pkcs11.lib(str(SOFTHSM_MODULE)).reinitialize()
        return SoftHsmToken(SOFTHSM_MODULE, label, pin, so_pin, pin_file)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """The session's SoftHSM2 (``SOFTHSM2_CONF`` set for the whole session)."""
    if not SOFTHSM_MODULE.is_file():
        pytest.skip(_SKIP_REASON)
    hsm = SoftHsm(tmp_path_factory.mktemp("softhsm"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(hsm.conf))
        yield hsm


@pytest.fixture(scope="session")
def softhsm_token(softhsm: SoftHsm) -> SoftHsmToken:
    """One token for the session (its objects outlive each test: read-only use)."""
    return softhsm.new_token()


@pytest.fixture
def fresh_softhsm_token(softhsm: SoftHsm) -> SoftHsmToken:
    """A new, empty token for this test alone."""
    return softhsm.new_token()
