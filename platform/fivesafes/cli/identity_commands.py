"""`fivesafes users ...` and `fivesafes tokens ...`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.runtime import console, handle_errors, transaction
from fivesafes.config import get_settings
from fivesafes.errors import InvalidInputError
from fivesafes.identity import service
from fivesafes.identity.models import Role
from fivesafes.identity.oidc import accounts as federated

TRAIL = AuditTrail.for_operator

users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


#: The roles, for the options' help (reidentifier: trust-side staff who carry out an
#: approved re-identification; docs/reidentification.md).
_ROLES = "uploader, researcher, governance, admin or reidentifier"


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "-"


@users_app.command("add")
@handle_errors
def add_user(
    username: str,
    role: Annotated[Role, typer.Option(help=_ROLES)],
    full_name: Annotated[str, typer.Option(help="Display name")] = "",
    email: Annotated[str | None, typer.Option(help="Contact address")] = None,
) -> None:
    """Add a user (no token yet: issue one with `tokens issue`)."""
    with transaction() as session:
        user = service.create_user(
            session, TRAIL(), username, role, full_name=full_name, email=email
        )
        console.print(f"added {user.username} ({user.role.value})")


@users_app.command("list")
@handle_errors
def list_users() -> None:
    """List users with their role, state and how they sign in (fivesafes credentials,
    or the identity provider that vouches for them)."""
    with transaction() as session:
        routes = federated.sign_in_routes(session)
        table = Table("username", "role", "name", "active", "signs in with", "created")
        for user in service.list_users(session):
            table.add_row(
                user.username,
                f"{user.role.value} (Caldicott Guardian)"
                if user.caldicott_guardian
                else user.role.value,
                user.full_name,
                "yes" if user.is_active else "disabled",
                routes.get(user.id, "fivesafes"),
                _when(user.created_at),
            )
        console.print(table)


@users_app.command("disable")
@handle_errors
def disable_user(username: str) -> None:
    """Disable a user; their tokens stop working immediately."""
    with transaction() as session:
        service.disable_user(session, TRAIL(), username)
        console.print(f"disabled {username}")


@users_app.command("set-role")
@handle_errors
def set_role(
    username: str,
    role: Annotated[Role, typer.Option(help=_ROLES)],
) -> None:
    """Change a user's role; their open web sessions end at once (leaving governance
    also drops the Caldicott Guardian flag)."""
    with transaction() as session:
        before = service.get_user(session, username).role
        service.change_role(session, TRAIL(), username, role)
        if before == role:
            console.print(f"{username} already has the role {role.value}")
            return
        console.print(f"{username}: {before.value} -> {role.value} (web sessions ended)")


@users_app.command("set-caldicott")
@handle_errors
def set_caldicott(
    username: str,
    on: Annotated[
        bool,
        typer.Option(
            "--on/--off",
            help="Flag the governance officer as the Caldicott Guardian, or remove the flag",
        ),
    ],
) -> None:
    """Mark a governance officer as the Caldicott Guardian (or not): with
    FIVESAFES_REID_REQUIRE_CALDICOTT_GUARDIAN on, a re-identification needs one such
    officer among its two approvals. Audited as user.caldicott_guardian."""
    with transaction() as session:
        before = service.get_user(session, username).caldicott_guardian
        service.set_caldicott_guardian(session, TRAIL(), username, on)
        state = "on" if on else "off"
        if before == on:
            console.print(f"{username}: the Caldicott Guardian flag is already {state}")
            return
        console.print(f"{username}: Caldicott Guardian flag {state}")


@tokens_app.command("issue")
@handle_errors
def issue_token(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    days: Annotated[
        int | None, typer.Option(help="Lifetime in days (default from settings)")
    ] = None,
) -> None:
    """Issue a token; the secret is printed once and cannot be shown again."""
    settings = get_settings()
    if days is not None and not 1 <= days <= settings.token_max_days:
        raise InvalidInputError(
            f"--days must be from 1 to {settings.token_max_days} (FIVESAFES_TOKEN_MAX_DAYS)"
        )
    lifetime = timedelta(days=days) if days else settings.token_lifetime
    with transaction() as session:
        user = service.get_user(session, username)
        issued = service.issue_token(
            session, TRAIL(), user, name, lifetime, max_lifetime=settings.token_max_lifetime
        )
        console.print(f"token for {username} (expires {_when(issued.token.expires_at)}):")
        console.print(issued.secret, highlight=False, soft_wrap=True)


@tokens_app.command("list")
@handle_errors
def list_tokens(
    username: Annotated[str | None, typer.Argument(help="Only this user's tokens")] = None,
) -> None:
    """List tokens (never their secrets)."""
    with transaction() as session:
        owner = service.get_user(session, username) if username else None
        table = Table("user", "name", "prefix", "expires", "revoked", "last used")
        table.add_column("id", no_wrap=True)
        for token in service.list_tokens(session, owner):
            table.add_row(
                token.user.username,
                token.name,
                token.prefix + "…",
                _when(token.expires_at),
                _when(token.revoked_at),
                _when(token.last_used_at),
                str(token.id),
            )
        console.print(table)


@tokens_app.command("revoke")
@handle_errors
def revoke_token(token_id: str) -> None:
    """Revoke a token by id, with immediate effect (and the tokens minted from it)."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        raise InvalidInputError(f"{token_id!r} is not a token id (a UUID)") from None
    with transaction() as session:
        service.revoke_token(session, TRAIL(), parsed)
        console.print(f"revoked {parsed}")
