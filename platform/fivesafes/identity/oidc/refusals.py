"""Why a provider's token was refused: one stable reason code per cause.

The reason is the error's ``code`` (the API's error body, the audit event's ``reason``),
so a client, an assessor reading the trail and a test all key on the same word. The
provider, issuer and subject ride along for the audit event only; a message never
quotes the token (it is a credential) nor any claim value a provider sent.
"""

from __future__ import annotations

from enum import StrEnum

from fivesafes.errors import AuthenticationError, FivesafesError, PermissionDeniedError


class RefusalReason(StrEnum):
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    BAD_SIGNATURE = "bad_signature"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    UNKNOWN_KEY = "unknown_key"
    MFA_REQUIRED = "mfa_required"
    NO_ROLE = "no_role"
    AMBIGUOUS_ROLE = "ambiguous_role"
    USER_DISABLED = "user_disabled"
    MALFORMED = "malformed"
    BAD_NONCE = "bad_nonce"
    PROVIDER_UNAVAILABLE = "provider_unavailable"


class _RefusalError(FivesafesError):
    """What both refusals carry: the reason (as ``code``) and who it was about."""

    def __init__(
        self,
        reason: RefusalReason,
        message: str,
        *,
        provider: str | None = None,
        issuer: str | None = None,
        subject: str | None = None,
    ) -> None:
        super().__init__(message, code=reason.value)
        self.reason = reason
        self.provider = provider
        self.issuer = issuer
        self.subject = subject
        #: Set by whoever recorded the refusal's audit event, so the event survives the
        #: rollback of the refused request (:func:`fivesafes.db.keeps_audit`).
        self.keeps_audit = False


class TokenRefused(_RefusalError, AuthenticationError):  # noqa: N818 (the name the design fixed)
    """The token proves nothing (or the account may not come in): HTTP 401."""


class RoleRefused(_RefusalError, PermissionDeniedError):  # noqa: N818 (the name the design fixed)
    """A genuine sign-in whose claims give no single fivesafes role: HTTP 403."""
