"""The researcher's stored sign-ins: ``$XDG_CONFIG_HOME/fivesafes/credentials.json``.

``fivesafes login`` leaves a provider's access token (and refresh token) here so that
``fivesafes fetch`` need not be handed a token on the command line, where it would sit in
the shell history and in ``ps`` for anyone on the machine to read. The file is keyed by
server URL, since one researcher may use several fivesafes servers, each with its own
identity provider.

The tokens are bearer secrets, so the file is guarded as ssh guards a private key: the
folder is 0700 and the file 0600 from the moment it exists (``os.open`` with the mode,
never a chmod after the fact, which would leave a window), it is replaced atomically
(``os.replace`` of a complete temporary file, so a crash never leaves half a file), and a
file that others may read is refused rather than used. Nothing here prints a token.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from fivesafes.cli import device_login
from fivesafes.errors import AuthenticationError, ConfigurationError

FILE_NAME = "credentials.json"
#: Refresh this long before the provider's expiry: the clocks of this machine and the
#: server differ, and a download must not start with a token about to die.
EXPIRY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A sign-in at one server: what is sent (access token) and how to renew it."""

    provider: str
    issuer: str
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None  # None: the provider did not say; the server decides
    token_endpoint: str
    client_id: str

    def __repr__(self) -> str:  # never a token in a traceback or a debugger's display
        return f"StoredCredential(provider={self.provider!r}, expires_at={self.expires_at!r})"

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return (now or datetime.now(UTC)) >= self.expires_at - EXPIRY_MARGIN

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return data

    @classmethod
    def from_json(cls, data: Any, source: str) -> StoredCredential:
        try:
            expires = data.get("expires_at")
            expires_at = datetime.fromisoformat(expires) if expires else None
            if expires_at is not None and expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            refresh = data.get("refresh_token")
            return cls(
                provider=str(data["provider"]),
                issuer=str(data["issuer"]),
                access_token=str(data["access_token"]),
                refresh_token=str(refresh) if refresh else None,
                expires_at=expires_at,
                token_endpoint=str(data["token_endpoint"]),
                client_id=str(data["client_id"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # The message names the key, never a value (a value may be a token).
            what = f"key {exc.args[0]!r}" if isinstance(exc, KeyError) else "an entry"
            raise ConfigurationError(f"{source}: {what} is missing or malformed") from None


def server_key(url: str) -> str:
    """The key a server's sign-in is stored under: its URL without a trailing slash."""
    return url.strip().rstrip("/")


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/fivesafes/credentials.json``, ``~/.config`` when unset (the XDG
    base directory rule: a relative XDG_CONFIG_HOME is ignored)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "fivesafes" / FILE_NAME


def _check_private(path: Path, info: os.stat_result) -> None:
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"{path} may be read by other users (mode {stat.S_IMODE(info.st_mode):o}): "
            f"run `chmod 600 {path}` or `fivesafes logout`, then `fivesafes login` again",
            code="credentials_not_private",
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigurationError(f"{path} belongs to another user", code="credentials_not_private")


def load_all(path: Path | None = None) -> dict[str, StoredCredential]:
    """Every stored sign-in by server URL; none when there is no file."""
    path = path or credentials_path()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        _check_private(path, os.fstat(handle.fileno()))
        try:
            data = json.load(handle)
        except ValueError:
            raise ConfigurationError(
                f"{path} is not valid JSON: delete it and run `fivesafes login` again"
            ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected an object keyed by server URL")
    return {url: StoredCredential.from_json(entry, str(path)) for url, entry in data.items()}


def _private_folder(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is cut by the umask, never widened, and an existing folder keeps its
    # mode: fivesafes/ is ours, so it is made 0700 whatever it was.
    os.chmod(folder, 0o700)


def _write_all(path: Path, entries: Mapping[str, StoredCredential]) -> None:
    _private_folder(path.parent)
    body = json.dumps({url: c.to_json() for url, c in entries.items()}, indent=2, sort_keys=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def get(url: str, path: Path | None = None) -> StoredCredential | None:
    return load_all(path).get(server_key(url))


def save(url: str, credential: StoredCredential, path: Path | None = None) -> Path:
    """Store (or replace) the sign-in for ``url``; the other servers' are kept."""
    path = path or credentials_path()
    entries = load_all(path)
    entries[server_key(url)] = credential
    _write_all(path, entries)
    return path


def forget(url: str, path: Path | None = None) -> bool:
    """Remove the sign-in for ``url``; False when there was none."""
    path = path or credentials_path()
    entries = load_all(path)
    if entries.pop(server_key(url), None) is None:
        return False
    _write_all(path, entries)
    return True


def login_hint(url: str) -> str:
    return f"run `fivesafes login --url {server_key(url)}`"


def require(url: str, path: Path | None = None) -> StoredCredential:
    """The stored sign-in for ``url``, or an error saying how to make one."""
    credential = get(url, path)
    if credential is None:
        raise AuthenticationError(
            f"no token given (--token or FIVESAFES_TOKEN) and no stored sign-in for "
            f"{server_key(url)}: {login_hint(url)}",
            code="not_signed_in",
        )
    return credential


def bearer_token(url: str, http: httpx.Client, path: Path | None = None) -> str:
    """The access token to send to ``url``: the stored one, renewed with its refresh
    token first when it has expired (and the renewal stored), else an error naming
    ``fivesafes login``."""
    path = path or credentials_path()
    credential = require(url, path)
    if not credential.expired():
        return credential.access_token
    if credential.refresh_token is None:
        raise AuthenticationError(
            f"the stored sign-in for {server_key(url)} has expired: {login_hint(url)}",
            code="sign_in_expired",
        )
    try:
        tokens = device_login.refresh(
            http, credential.token_endpoint, credential.client_id, credential.refresh_token
        )
    except device_login.DeviceLoginRefusedError as exc:
        raise AuthenticationError(
            f"the stored sign-in for {server_key(url)} has expired and could not be renewed "
            f"({exc.code}): {login_hint(url)}",
            code="sign_in_expired",
        ) from None
    renewed = replace(
        credential,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
    )
    save(url, renewed, path)
    return renewed.access_token
