"""``fivesafes login`` and ``fivesafes logout``: sign in with the organisation's provider.

``login`` runs the device authorization grant (:mod:`fivesafes.cli.device_login`) with
the provider the server names, asks the server who the token makes us (``GET /me``, which
also creates the account with its mapped role at a first sign-in), and only then stores
the token (:mod:`fivesafes.cli.stored_credentials`): a token the server refuses, a
provider role that maps to nothing, is reported and never kept. Like ``fetch``, this is
an HTTP client of the server and of the provider: no database, no keys. No token and no
device code is ever printed; the user code is, since the researcher must type it.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.markup import escape

from fivesafes.cli import device_login, stored_credentials
from fivesafes.cli.release_commands import Url, server_error
from fivesafes.cli.runtime import console, handle_errors
from fivesafes.errors import ServiceUnavailableError

Provider = Annotated[
    str | None,
    typer.Option(
        "--provider",
        help="The identity provider's name (needed when the server offers several)",
        show_default=False,
    ),
]
HTTP_TIMEOUT = 15.0


def _who(http: httpx.Client, url: str, token: str) -> str:
    """``username (role)`` as the server sees the token; its refusal otherwise."""
    endpoint = f"{stored_credentials.server_key(url)}/me"
    try:
        response = http.get(endpoint, headers={"Authorization": f"Bearer {token}"})
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        raise server_error(response)
    try:
        me = response.json()
        return f"{me['username']} ({me['role']})"
    except (ValueError, KeyError, TypeError):
        raise ServiceUnavailableError(f"{endpoint} did not answer who the token is") from None


def login(url: Url = "http://127.0.0.1:8000", provider: Provider = None) -> None:
    """Sign in with the server's identity provider (device code) and store the token."""
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        chosen = device_login.choose_provider(
            device_login.list_providers(http, url), provider, stored_credentials.server_key(url)
        )
        endpoints = device_login.discover(http, chosen)
        scope = device_login.requested_scope(chosen, endpoints)
        authorization = device_login.start(http, endpoints, chosen.client_id, scope)
        console.print(f"Sign in with [bold]{escape(chosen.label)}[/]:", highlight=False)
        where = authorization.verification_uri_complete or authorization.verification_uri
        console.print(f"  open {where}", markup=False, highlight=False)
        console.print(f"  and enter the code {authorization.user_code}", markup=False)
        console.print(
            f"Waiting for the approval (the code is valid for "
            f"{authorization.expires_in // 60 or 1} min)...",
            highlight=False,
        )
        tokens = device_login.poll(http, endpoints, chosen.client_id, authorization)
        who = _who(http, url, tokens.access_token)
    path = stored_credentials.save(
        url,
        stored_credentials.StoredCredential(
            provider=chosen.name,
            issuer=chosen.issuer,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
            token_endpoint=endpoints.token_endpoint,
            client_id=chosen.client_id,
        ),
    )
    console.print(
        f"Signed in to {stored_credentials.server_key(url)} as {who} with {chosen.name}; "
        f"the token is stored in {path}",
        markup=False,
        highlight=False,
    )


def logout(url: Url = "http://127.0.0.1:8000") -> None:
    """Forget the stored sign-in for a server (the token is deleted from this machine)."""
    key = stored_credentials.server_key(url)
    if stored_credentials.forget(url):
        console.print(f"Signed out of {key}: its stored token is deleted", markup=False)
    else:
        console.print(f"No stored sign-in for {key}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("login")(handle_errors(login))
    app.command("logout")(handle_errors(logout))
