"""``fivesafes fetch``: download a release over HTTP, as a researcher's machine does.

The researcher is remote from the server, so this is an HTTP client (httpx) of
``GET /grants/{id}/data``, never an in-process call: it holds no database URL and no
keys. The file is written to a temporary name beside ``--out`` and renamed only when the
whole body arrived, with its SHA-256 compared against the release manifest, so a partial
or corrupted download never looks like a finished one.

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
) -> None:
    """Download the data of a grant (a new release each time) and check its SHA-256."""
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
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        raise ServiceUnavailableError(f"cannot reach {url}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    expected = manifest.json()["content"]["sha256"]
    if expected != digest.hexdigest():
        partial.unlink(missing_ok=True)
        raise FivesafesError(
            f"release {release}: SHA-256 of the download does not match the manifest",
            code="checksum_mismatch",
        )
    os.replace(partial, out)
    rows = manifest.json()["rows_released"]
    console.print(f"{out}: release {release}, {rows:,} rows, sha256 {expected}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("fetch")(handle_errors(fetch))
