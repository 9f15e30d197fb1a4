"""``fivesafes fetch``: download a release over HTTP, as a researcher's machine does.

The researcher is remote from the server, so this is an HTTP client (httpx) of
``GET /grants/{id}/data``, never an in-process call: it holds no database URL and no
keys. The file is written to a temporary name beside ``--out`` and renamed only when the
whole body arrived, with its SHA-256 compared against the release manifest, so a partial
or corrupted download never looks like a finished one.

With ``--crate`` the release's signed Five Safes RO-Crate (``GET /releases/{id}/crate``:
the same file again, its metadata and signature) is written too, beside the data as
``OUT.crate.zip``: fetched to a temporary name, checked for internal consistency (members,
metadata and file hashes, the profile's properties; the signature too with
``--public-key``) and that its file is the one just downloaded, and only then renamed
into place. Both files are kept: the data as the researcher asked for it, and the crate
as the record an assessor reads (``fivesafes crate verify``).

The token is ``--token`` (or ``FIVESAFES_TOKEN``): a fivesafes API token or any bearer
the server accepts. Without one, fetch uses the sign-in ``fivesafes login`` stored for
``--url`` (renewed first when it has expired), so a researcher signed in with the
organisation's identity provider never has a token on the command line.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

import httpx
import typer

from fivesafes.cli import stored_credentials
from fivesafes.cli.runtime import console, handle_errors
from fivesafes.crate.signing import raw_public_key
from fivesafes.crate.verify import verify_crate
from fivesafes.errors import FivesafesError, PermissionDeniedError, ServiceUnavailableError

Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FIVESAFES_TOKEN",
        help="API token (or FIVESAFES_TOKEN); default: the sign-in stored by `fivesafes login`",
        show_default=False,
    ),
]
Url = Annotated[
    str, typer.Option("--url", envvar="FIVESAFES_URL", help="Server URL (or FIVESAFES_URL)")
]


def server_error(response: httpx.Response, *, hint: str | None = None) -> FivesafesError:
    """The server's error answer as the CLI's error (its code and message)."""
    try:
        body = response.json()["error"]
        message, code = body["message"], body["code"]
    except (ValueError, KeyError, TypeError):
        message, code = response.text[:200] or response.reason_phrase, "http_error"
    message = f"HTTP {response.status_code}: {message}"
    if hint and response.status_code == 401:
        message = f"{message} ({hint})"
    if response.status_code in (401, 403):
        return PermissionDeniedError(message, code=code)
    return FivesafesError(message, code=code)


def fetch(
    grant: Annotated[int, typer.Argument(help="Grant id")],
    out: Annotated[Path, typer.Option("--out", help="File to write")],
    token: Token = None,
    url: Url = "http://127.0.0.1:8000",
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet")] = "csv",
    crate: Annotated[
        bool,
        typer.Option("--crate", help="Also fetch the release's signed RO-Crate to OUT.crate.zip"),
    ] = False,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="With --crate: check the crate's signature with this PEM key too",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Download the data of a grant (a new release each time) and check its SHA-256."""
    key = raw_public_key(public_key.read_bytes()) if public_key is not None else None
    hint = None
    if not token:
        # A stored sign-in: renewed at its provider first if it has expired.
        with httpx.Client(timeout=30) as provider:
            token = stored_credentials.bearer_token(url, provider)
        hint = f"the stored sign-in was refused: {stored_credentials.login_hint(url)}"
    headers = {"Authorization": f"Bearer {token}"}
    partial = out.with_name(f".{out.name}.partial")
    digest = hashlib.sha256()
    try:
        with (
            httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=600) as client,
            client.stream("GET", f"/grants/{grant}/data", params={"format": fmt}) as response,
        ):
            if response.status_code != 200:
                response.read()
                raise server_error(response, hint=hint)
            release = response.headers.get("X-Release-Id", "?")
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    handle.write(chunk)
            manifest = client.get(f"/releases/{release}/manifest")
            if manifest.status_code != 200:
                raise server_error(manifest, hint=hint)
            _check(partial, out, release, digest.hexdigest(), manifest)
            if crate:
                _fetch_crate(client, release, digest.hexdigest(), out, key, hint)
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        raise ServiceUnavailableError(f"cannot reach {url}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    rows = manifest.json()["rows_released"]
    sha256 = digest.hexdigest()
    console.print(f"{out}: release {release}, {rows:,} rows, sha256 {sha256}", highlight=False)
    if crate:
        console.print(f"{crate_path(out)}: the release's signed RO-Crate", highlight=False)


def _check(partial: Path, out: Path, release: str, sha256: str, manifest: httpx.Response) -> None:
    """Rename the download into place once its SHA-256 is the manifest's."""
    expected = manifest.json()["content"]["sha256"]
    if expected != sha256:
        partial.unlink(missing_ok=True)
        raise FivesafesError(
            f"release {release}: SHA-256 of the download does not match the manifest",
            code="checksum_mismatch",
        )
    os.replace(partial, out)


def crate_path(out: Path) -> Path:
    return out.with_name(f"{out.name}.crate.zip")


def _fetch_crate(
    client: httpx.Client,
    release: str,
    sha256: str,
    out: Path,
    key: bytes | None,
    hint: str | None,
) -> None:
    """Fetch the release's crate beside ``out``, verified before it is renamed in."""
    target = crate_path(out)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with client.stream("GET", f"/releases/{release}/crate") as response:
            if response.status_code != 200:
                response.read()
                raise server_error(response, hint=hint)
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes(1 << 20):
                    handle.write(chunk)
        result = verify_crate(partial, key)
        problems = [f"{c.name}: {c.detail}" for c in result.failed]
        if result.valid and sha256 not in result.signed.get("files", {}).values():
            problems.append("its file is not the one downloaded (SHA-256 differs)")
        if problems:
            raise FivesafesError(
                f"release {release}: the crate does not verify: {'; '.join(problems)}",
                code="crate_invalid",
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def register(app: typer.Typer) -> None:
    app.command("fetch")(handle_errors(fetch))
