"""First-run set-up shared by `fivesafes init` and `fivesafes demo`.

Kept out of the CLI so the steps (schema, keys, first admin) are testable and the same
whichever entry point runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes import schema
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.errors import ConflictError
from fivesafes.identity import service
from fivesafes.identity.models import Role, User
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.open import open_keystore
from fivesafes.keys.store import KEY_NAMES


@dataclass(frozen=True, slots=True)
class InitResult:
    admin_username: str
    admin_token: str


def ensure_keys(settings: Settings) -> list[Path]:
    """Create the local key store unless every key is already there (then touch nothing).

    Only the local store (the embedded default, the demo) is made here. A PKCS#11 token's
    keys are made in a key ceremony (`fivesafes keys init --keystore pkcs11`), never as a
    side effect of first-run set-up: for it this only checks that the store opens and
    holds a signing key, and writes no file (a clear key file beside the token's wrapped
    keys would defeat the token).
    """
    if settings.keystore != "local":
        open_keystore(settings).verification_key()
        return []
    store = LocalFileKeyStore(settings.keystore_path)
    if all(store.key_path(name).exists() for name in KEY_NAMES):
        return []
    return store.init()


def has_users(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(User)))


def initialise(settings: Settings, admin_username: str = "admin") -> InitResult:
    """Migrate the schema, create the local keys and the first admin with a token.

    Refuses when users already exist: a second "first admin" on a live system would be a
    back door, so further admins are added with `fivesafes users add` by an existing one.
    """
    schema.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            if has_users(session):
                raise ConflictError(
                    "already initialised: users exist (add more with `fivesafes users add`)",
                    code="already_initialised",
                )
            written = ensure_keys(settings)
            trail = AuditTrail.for_operator()
            if written:
                trail.record(session, "keys.init", details={"keys": len(written)})
            admin = service.create_user(
                session, trail, admin_username, Role.ADMIN, full_name="Platform administrator"
            )
            issued = service.issue_token(
                session,
                trail,
                admin,
                "init",
                settings.token_lifetime,
                max_lifetime=settings.token_max_lifetime,
            )
            return InitResult(admin_username=admin.username, admin_token=issued.secret)
    finally:
        engine.dispose()
