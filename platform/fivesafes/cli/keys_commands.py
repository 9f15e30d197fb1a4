"""`fivesafes keys`: create and inspect the local key store (the embedded default).

Production sites keep keys in a KMS or HSM; this store protects keys with file
permissions only. Nothing here ever prints key material: only paths and fingerprints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.runtime import console, handle_errors
from fivesafes.config import get_settings
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.store import KEY_NAMES, key_id

keys_app = typer.Typer(
    help="Local key store: pseudonym, date-shift, key-encryption and audit-signing keys.",
    no_args_is_help=True,
)

PathOption = Annotated[
    Path | None,
    typer.Option("--path", help="Key store folder (default: FIVESAFES_KEYSTORE_PATH)"),
]


def _store(path: Path | None) -> LocalFileKeyStore:
    return LocalFileKeyStore(path if path is not None else get_settings().keystore_path)


@keys_app.command("init")
@handle_errors
def init_keys(path: PathOption = None) -> None:
    """Create the key store with fresh random keys (refuses to overwrite existing keys)."""
    store = _store(path)
    written = store.init()
    console.print(f"created {len(written)} keys in {store.path} (folder 0700, files 0600)")
    for name in KEY_NAMES:
        console.print(f"  {name:<14} id {key_id(store.secret(name))}", highlight=False)
    console.print(
        "Back these up securely: losing the pseudonym key breaks linkage with every extract "
        "made so far. Production deployments should use a KMS or HSM instead."
    )


@keys_app.command("show-path")
@handle_errors
def show_path(path: PathOption = None) -> None:
    """Print where the key store lives."""
    console.print(str(_store(path).path.resolve()), highlight=False, soft_wrap=True)


@keys_app.command("check")
@handle_errors
def check(path: PathOption = None) -> None:
    """Load every key, checking permissions; print each key's public fingerprint."""
    store = _store(path)
    for name, purpose in KEY_NAMES.items():
        console.print(f"{name:<14} id {key_id(store.secret(name))}  {purpose}", highlight=False)
    console.print(f"{store.describe()}: all keys present and private")
