"""The project's exception tree.

Every error a user can cause has a stable ``code`` (part of the API contract: clients and
the audit trail key on it) and a message that names what is wrong. ``api/`` maps the
classes to HTTP statuses in one place; the CLI prints the message and exits non-zero.
Messages must never contain raw identifiers: name the file, line and column instead.
"""

from __future__ import annotations


class FivesafesError(Exception):
    """Base of every expected failure. ``code`` is stable; ``message`` is for people."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(FivesafesError):
    """A setting or key store that stops start-up."""

    code = "configuration_error"


class InvalidInputError(FivesafesError):
    """Bad input from a user: a file, a request body, a parameter."""

    code = "invalid_input"


class InputFileError(InvalidInputError):
    """A problem at a position in an input file: says where, never what the cell held."""

    code = "invalid_file"

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        column: str | None = None,
        code: str | None = None,
    ) -> None:
        where = [file]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}", code=code)
        self.reason = message
        self.file = file
        self.line = line
        self.column = column


class PolicyError(InvalidInputError):
    """A policy file that fails validation (names the file and the key)."""

    code = "invalid_policy"


class AuthenticationError(FivesafesError):
    """No valid credentials: unknown, expired or revoked token, disabled user."""

    code = "unauthenticated"


class PermissionDeniedError(FivesafesError):
    """Authenticated, but not allowed to do this."""

    code = "forbidden"


class NotFoundError(FivesafesError):
    """The thing asked for does not exist (or the caller may not know it does)."""

    code = "not_found"


class ConflictError(FivesafesError):
    """The request clashes with existing state (a duplicate, a stale version)."""

    code = "conflict"


class PayloadTooLargeError(FivesafesError):
    """An upload beyond the configured limit."""

    code = "payload_too_large"


class UnsupportedMediaTypeError(InvalidInputError):
    """A body of a type the route does not take (a file posted to a page form)."""

    code = "unsupported_media_type"


class RateLimitedError(FivesafesError):
    """A limit on how often something may be done is reached (a project's monthly
    re-identification allowance); trying again later, or a governance decision, helps."""

    code = "rate_limited"


class ServiceUnavailableError(FivesafesError):
    """A dependency (the database) cannot be reached."""

    code = "service_unavailable"
