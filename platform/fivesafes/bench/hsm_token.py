"""A throw-away SoftHSM2 token for the ingestion benchmark's PKCS#11 run.

The ingestion bench measures the PKCS#11 store beside the local one, so it needs a token
it can fill and forget: one SoftHSM2 configuration (``SOFTHSM2_CONF``) and token folder
per run, under the run's temporary folder, made with ``softhsm2-util --init-token`` and
deleted with it. The user PIN goes only into a 0600 file, as production's
``FIVESAFES_PKCS11_PIN_FILE`` does; no PIN is kept after the token is made.

Everything that talks to the token runs in a child process (``python -m
fivesafes.bench.hsm_token import|startup``), for two reasons:

- SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised in a process, so a
  process that already loaded it (a test session with its own token folder) would not
  see this token; a child process gets the variable from its environment, as the server
  under test does;
- the start-up cost the bench reports is a fresh process's: loading the module, finding
  the token, logging in and unwrapping the pseudonym and date-shift keys, which is what a
  server pays once when it starts.

The child prints only public facts (timings and key ids, the SHA-256 fingerprints
``keys status`` shows): key material never crosses a pipe or a file in clear here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Where Debian and Ubuntu's ``softhsm2`` package puts the module (both paths exist there).
SOFTHSM_MODULES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
)
MODULE_VAR = "FIVESAFES_PKCS11_MODULE"
_CHILD_TIMEOUT_S = 120


def softhsm_module() -> Path | None:
    """The SoftHSM2 module: ``FIVESAFES_PKCS11_MODULE`` when given, else a packaged path."""
    given = os.environ.get(MODULE_VAR)
    if given:
        return Path(given) if Path(given).is_file() else None
    return next((path for path in SOFTHSM_MODULES if path.is_file()), None)


def unavailable_reason() -> str | None:
    """Why a token cannot be made here (None when it can): the bench then skips, saying so."""
    if importlib.util.find_spec("pkcs11") is None:
        return "python-pkcs11 is not installed (pip install 'fivesafes[hsm]')"
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util is not on PATH (apt-get install softhsm2)"
    if softhsm_module() is None:
        given = os.environ.get(MODULE_VAR)
        if given:
            return f"{MODULE_VAR}={given} is not a file"
        return (
            f"no SoftHSM2 module at {' or '.join(map(str, SOFTHSM_MODULES))} "
            f"(apt-get install softhsm2, or set {MODULE_VAR})"
        )
    return None


@dataclass(frozen=True, slots=True)
class BenchToken:
    """An initialised, empty token: its SoftHSM2 configuration, module, label and PIN file."""

    conf: Path
    module: Path
    label: str
    pin_file: Path

    def environment(self, keystore_path: Path) -> dict[str, str]:
        """The variables that make a fivesafes process use this token (no PIN among them)."""
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "FIVESAFES_KEYSTORE": "pkcs11",
            "FIVESAFES_KEYSTORE_PATH": str(keystore_path),
            "FIVESAFES_PKCS11_MODULE": str(self.module),
            "FIVESAFES_PKCS11_TOKEN": self.label,
            "FIVESAFES_PKCS11_PIN_FILE": str(self.pin_file),
        }


@dataclass(frozen=True, slots=True)
class StartupCost:
    """A fresh process's one-off cost of the PKCS#11 store, and the ids of the keys it got."""

    open_ms: float  # load the module, find the token, log in
    unwrap_ms: float  # unwrap the pseudonym and date-shift keys (two AES-GCM token calls)
    key_ids: dict[str, str]

    @property
    def total_ms(self) -> float:
        return self.open_ms + self.unwrap_ms


def make_token(root: Path) -> BenchToken:
    """Initialise a new token in its own SoftHSM2 configuration under ``root`` (made 0700)."""
    reason = unavailable_reason()
    module = softhsm_module()
    if reason is not None or module is None:
        raise RuntimeError(f"cannot make a SoftHSM2 token: {reason}")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    tokens = root / "tokens"
    tokens.mkdir(mode=0o700)
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n",
        encoding="utf-8",
    )
    label = f"fivesafes-bench-{os.getpid()}-{secrets.token_hex(3)}"
    pin = secrets.token_hex(16)
    pin_file = root / "user.pin"
    fd = os.open(pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, f"{pin}\n".encode())
    finally:
        os.close(fd)
    # softhsm2-util takes PINs only as arguments (or at a prompt). The token lives for one
    # benchmark run in a 0700 folder; its security-officer PIN is never needed again.
    completed = subprocess.run(  # noqa: S603 - the packaged tool, fixed arguments
        [
            shutil.which("softhsm2-util") or "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            secrets.token_hex(16),
            "--pin",
            pin,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=False,
        timeout=_CHILD_TIMEOUT_S,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"softhsm2-util --init-token failed (exit {completed.returncode}): "
            f"{completed.stderr.strip()[:300]}"
        )
    return BenchToken(conf, module, label, pin_file)


def _child(token: BenchToken, keystore_path: Path, *args: str) -> str:
    completed = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "fivesafes.bench.hsm_token", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **token.environment(keystore_path)},
        check=False,
        timeout=_CHILD_TIMEOUT_S,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"fivesafes.bench.hsm_token {args[0]} failed (exit {completed.returncode}): "
            f"{completed.stderr.strip()[-500:]}"
        )
    return completed.stdout


def import_local_keys(token: BenchToken, local_path: Path, keystore_path: Path) -> None:
    """``Pkcs11KeyStore.init`` on the token, importing the local store's two memory keys.

    The same pseudonym and date-shift keys on both stores means both runs of the bench
    compute the same pseudonyms, so they do the same work.
    """
    _child(token, keystore_path, "import", str(local_path))


def measure_startup(token: BenchToken, keystore_path: Path) -> StartupCost:
    """Open the token and unwrap both memory keys in a fresh process; its timings."""
    report = json.loads(_child(token, keystore_path, "startup"))
    return StartupCost(
        float(report["open_ms"]), float(report["unwrap_ms"]), dict(report["key_ids"])
    )


# -- the child process -------------------------------------------------------------------


def _import(local_path: Path) -> None:
    from fivesafes.config import load_settings  # noqa: PLC0415
    from fivesafes.keys.local import LocalFileKeyStore  # noqa: PLC0415
    from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415
    from fivesafes.keys.store import MEMORY_KEY_NAMES  # noqa: PLC0415

    local = LocalFileKeyStore(local_path)
    store = Pkcs11KeyStore.from_settings(load_settings())
    try:
        store.init(import_secrets={name: local.secret(name) for name in MEMORY_KEY_NAMES})
    finally:
        store.close()


def _startup() -> None:
    from fivesafes.config import load_settings  # noqa: PLC0415
    from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415
    from fivesafes.keys.store import MEMORY_KEY_NAMES, key_id  # noqa: PLC0415

    settings = load_settings()
    start = time.perf_counter()
    store = Pkcs11KeyStore.from_settings(settings)
    opened = time.perf_counter()
    try:
        keys = {name: store.secret(name) for name in MEMORY_KEY_NAMES}
        unwrapped = time.perf_counter()
        ids = {name: key_id(material) for name, material in keys.items()}
    finally:
        store.close()
    report = {
        "open_ms": (opened - start) * 1000,
        "unwrap_ms": (unwrapped - opened) * 1000,
        "key_ids": ids,
    }
    sys.stdout.write(json.dumps(report) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child process; the token is selected by ``FIVESAFES_PKCS11_*``."""
    parser = argparse.ArgumentParser(description="The ingestion bench's token operations.")
    commands = parser.add_subparsers(dest="command", required=True)
    imports = commands.add_parser("import", help="init the token with a local store's keys")
    imports.add_argument("local_path", type=Path)
    commands.add_parser("startup", help="time opening the token and unwrapping the keys")
    args = parser.parse_args(argv)
    if args.command == "import":
        _import(args.local_path)
    else:
        _startup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
