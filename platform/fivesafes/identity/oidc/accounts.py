"""Accounts for people a provider vouched for: matched, created, kept in step, refused.

The provider is the authority on who someone is and which role they hold; fivesafes is
the authority on whether they may come in at all. So a user is matched by the token's
(issuer, subject) — never by username or e-mail, which a provider may reassign and which
would let it take over a local account — and created on first sign-in with the role
the provider's claims map to. A changed mapping changes the role (ending every session
opened under the old one); a mapping to no role refuses the sign-in and ends the
account's sessions, so a role removed at the provider is gone here at the next sign-in.
An account an administrator disabled stays disabled whatever the token says.

Every sign-in and every refusal is audited with the provider, issuer and subject (never
the token). A refusal raises with ``keeps_audit`` set, so its event survives the
rollback of the refused request.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role, User
from fivesafes.identity.oidc.config import ProviderConfig
from fivesafes.identity.oidc.models import FederatedIdentity
from fivesafes.identity.oidc.providers import OidcProviders, VerifiedToken
from fivesafes.identity.oidc.refusals import RefusalReason, RoleRefused, TokenRefused

_NOT_USERNAME = re.compile(r"[^a-z0-9._-]+")
_MAX_USERNAME = 64


def mapped_role(provider: ProviderConfig, claims: Any) -> Role:
    """The one fivesafes role the token's role claim maps to, or :class:`RoleRefused`.

    Values the policy does not list map to nothing. Values mapping to two different roles
    are refused rather than resolved: a person holds one role here, and picking one would
    decide a separation of duties (uploader and approver, say) the trust never decided.
    """
    raw = claims.get(provider.role_claim) if isinstance(claims, dict) else None
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    roles = {provider.roles[v] for v in values if isinstance(v, str) and v in provider.roles}
    if not roles:
        raise RoleRefused(
            RefusalReason.NO_ROLE,
            f"the {provider.label} sign-in carries no role fivesafes knows "
            f"(claim {provider.role_claim!r}); ask for a FiveSafes role at {provider.label}",
            provider=provider.name,
        )
    if len(roles) > 1:
        names = ", ".join(sorted(r.value for r in roles))
        raise RoleRefused(
            RefusalReason.AMBIGUOUS_ROLE,
            f"the {provider.label} sign-in maps to several fivesafes roles ({names}); "
            "a user holds exactly one",
            provider=provider.name,
        )
    return roles.pop()


def _username_base(provider: ProviderConfig, verified: VerifiedToken) -> str:
    for claim in (provider.username_claim, "email"):
        value = verified.claims.get(claim)
        if isinstance(value, str) and value.strip():
            local = value.strip().lower().split("@", 1)[0]
            cleaned = _NOT_USERNAME.sub("-", local).strip("-._")
            if cleaned and cleaned[0].isalpha():
                return cleaned[: _MAX_USERNAME - 8]
    return f"{provider.name}-{_subject_tag(verified.subject)}"


def _subject_tag(subject: str) -> str:
    return identity.hash_token(subject)[:10]


def _free_username(session: Session, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``...: a federated account never takes over an
    existing username (a local account of the same name stays that person's)."""
    candidate, n = base, 1
    while session.scalar(select(User.id).where(User.username == candidate)) is not None:
        n += 1
        candidate = f"{base[: _MAX_USERNAME - 4]}-{n}"
    return candidate


def _origin(verified: VerifiedToken) -> dict[str, object]:
    """How a change decided by the provider is named in its audit event."""
    return {
        "source": "provider",
        "provider": verified.provider.name,
        "issuer": verified.issuer,
        "subject": verified.subject,
    }


def _details(verified: VerifiedToken, via: str, **more: object) -> dict[str, object]:
    return {
        "provider": verified.provider.name,
        "issuer": verified.issuer,
        "subject": verified.subject,
        "via": via,
        **more,
    }


def record_refusal(
    session: Session,
    trail: AuditTrail,
    refused: TokenRefused | RoleRefused,
    *,
    via: str,
    user: User | None = None,
    **more: object,
) -> None:
    """Audit ``oidc.refused`` with its reason code, and mark the error to keep it."""
    details: dict[str, object] = {"reason": refused.reason.value, "via": via}
    for key in ("provider", "issuer", "subject"):
        value = getattr(refused, key)
        if value:
            details[key] = value
    details.update(more)
    actor = trail.acting_as(identity.actor_of(user)) if user is not None else trail
    actor.record(
        session,
        "oidc.refused",
        outcome="denied",
        target_type="user" if user is not None else None,
        target_id=str(user.id) if user is not None else None,
        details=details,
    )
    refused.keeps_audit = True


def _find(session: Session, verified: VerifiedToken) -> FederatedIdentity | None:
    return session.scalar(
        select(FederatedIdentity).where(
            FederatedIdentity.issuer == verified.issuer,
            FederatedIdentity.subject == verified.subject,
        )
    )


def _refuse(
    session: Session,
    trail: AuditTrail,
    refused: TokenRefused | RoleRefused,
    verified: VerifiedToken,
    *,
    via: str,
    user: User | None = None,
    **more: object,
) -> TokenRefused | RoleRefused:
    refused.provider = verified.provider.name
    refused.issuer = verified.issuer
    refused.subject = verified.subject
    record_refusal(session, trail, refused, via=via, user=user, **more)
    return refused


def sign_in(session: Session, trail: AuditTrail, verified: VerifiedToken, *, via: str) -> User:
    """The user ``verified`` belongs to, made or brought in step with the provider.

    ``via`` is ``web`` (a browser sign-in: always audited) or ``api`` (a bearer token:
    audited the first time each token is seen, so a client's every request is not a
    "sign-in"). Raises, after auditing, :class:`RoleRefused` (403) for no or several
    mapped roles and :class:`TokenRefused` ``user_disabled`` (401).
    """
    link = _find(session, verified)
    user = link.user if link is not None else None
    try:
        role = mapped_role(verified.provider, dict(verified.claims))
    except RoleRefused as refused:
        if link is not None and user is not None and link.provider_role is not None:
            # The provider took the role away: what was opened under it ends now.
            identity.end_credentials(user)
            link.provider_role = None
            session.flush()
            raise _refuse(
                session, trail, refused, verified, via=via, user=user, sessions_ended=True
            ) from None
        raise _refuse(session, trail, refused, verified, via=via, user=user) from None
    if user is not None and not user.is_active:
        raise _refuse(
            session,
            trail,
            TokenRefused(
                RefusalReason.USER_DISABLED,
                "this account is disabled; ask a fivesafes administrator",
            ),
            verified,
            via=via,
            user=user,
        )
    now = utcnow()
    new_token = True
    if link is None or user is None:
        user = _create(session, trail, verified, role)
        link = FederatedIdentity(
            user_id=user.id,
            provider=verified.provider.name,
            issuer=verified.issuer,
            subject=verified.subject,
            created_at=now,
        )
        session.add(link)
    else:
        new_token = link.last_token_hash != verified.token_hash
        if user.role != role:
            identity.change_role(
                session,
                trail.acting_as(identity.actor_of(user)),
                user.username,
                role,
                origin=_origin(verified),
            )
    if link.provider_role != role.value:
        link.provider_role = role.value
    if via != "api" or new_token:
        link.last_sign_in_at = now
        link.last_token_hash = verified.token_hash
        session.flush()
        trail.acting_as(identity.actor_of(user)).record(
            session,
            "oidc.sign_in",
            target_type="user",
            target_id=str(user.id),
            details=_details(verified, via, role=role.value),
        )
    return user


def _create(session: Session, trail: AuditTrail, verified: VerifiedToken, role: Role) -> User:
    claims = verified.claims
    name = claims.get("name")
    email = claims.get("email")
    user = identity.create_user(
        session,
        trail,
        _free_username(session, _username_base(verified.provider, verified)),
        role,
        full_name=name[:200] if isinstance(name, str) else "",
        email=email[:320] if isinstance(email, str) and "@" in email else None,
        origin=_origin(verified),
    )
    return user


def authenticate_bearer(
    session: Session, trail: AuditTrail, providers: OidcProviders, token: str
) -> tuple[User, VerifiedToken]:
    """The user behind a provider's bearer JWT (the API path) and the verified token, or
    raise after auditing."""
    try:
        verified = providers.verify_access_token(token)
    except TokenRefused as refused:
        record_refusal(session, trail, refused, via="api")
        raise
    return sign_in(session, trail, verified, via="api"), verified


def sign_in_routes(session: Session) -> dict[uuid.UUID, str]:
    """``{user id: how they sign in}`` for federated users: the provider's name, marked
    when the provider's claims last mapped to no role (the account is then shut out)."""
    routes: dict[uuid.UUID, list[str]] = {}
    for link in session.scalars(select(FederatedIdentity).order_by(FederatedIdentity.provider)):
        mark = "" if link.provider_role is not None else " (no role there)"
        routes.setdefault(link.user_id, []).append(link.provider + mark)
    return {user_id: ", ".join(names) for user_id, names in routes.items()}
