"""The identity policy: which OpenID Connect providers users may sign in with.

Read once at start-up from ``policies/identity.yaml`` (``FIVESAFES_IDENTITY_POLICY``) and
validated there, with every problem named by its key, so that a typo in a role mapping
stops the server instead of silently letting nobody (or everybody) in.

Client secrets never live in the file: each comes from the environment variable
``FIVESAFES_OIDC_<NAME>_CLIENT_SECRET`` (:func:`client_secret_variable`), so the policy
can be reviewed, versioned and shown to an assessor like every other policy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fivesafes.errors import ConfigurationError, PolicyError
from fivesafes.identity.models import Role
from fivesafes.policy_yaml import PolicyKind, key_path, problem_message, read_policy_yaml

DEFAULT_IDENTITY_POLICY = Path("policies/identity.yaml")
_CHECKOUT_ROOT = Path(__file__).resolve().parents[4]
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _https_or_loopback(value: str, key: str) -> str:
    """An https URL, or http on loopback (a test provider): never plain http elsewhere,
    where anyone on the path could serve their own keys."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value.rstrip("/")
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value.rstrip("/")
    raise ValueError(f"{key} must be an https:// URL (http:// only on loopback)")


class ProviderConfig(BaseModel):
    """One identity provider (an Entra ID tenant, a university's IdP...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    #: Shown on the sign-in button ("Sign in with ..."); the name when unset.
    display_name: str | None = Field(default=None, min_length=1, max_length=80)
    issuer: str
    #: The ``iss`` of the provider's access tokens for the API when it is not ``issuer``
    #: (Entra ID's v1.0 access tokens: ``https://sts.windows.net/<tenant-id>/``).
    access_token_issuer: str | None = None
    client_id: str = Field(min_length=1, max_length=200)
    #: The public client the CLI's device sign-in uses (no secret); client_id when unset.
    cli_client_id: str | None = Field(default=None, min_length=1, max_length=200)
    #: The ``aud`` accepted on API bearer tokens from this provider.
    audience: str = Field(min_length=1, max_length=200)
    #: The claim holding group or app-role values (a list or a single string).
    role_claim: str = Field(default="roles", min_length=1, max_length=100)
    #: Claim value -> fivesafes role. A claim value not listed maps to nothing.
    roles: dict[str, Role] = Field(min_length=1)
    #: ``amr`` must contain ``mfa`` (or ``acr`` be one of ``acr_values``).
    require_mfa: bool = True
    acr_values: list[str] = Field(default_factory=list)
    #: Air-gapped sites: the JWKS read from this file instead of the provider's jwks_uri.
    jwks_file: Path | None = None
    #: The claim that names the person, matched with the issuer. ``sub`` by default;
    #: Entra ID's ``sub`` differs per application, so its sites use ``oid``.
    subject_claim: str = Field(default="sub", min_length=1, max_length=100)
    #: The claim a new account's username is made from (then email, then the subject).
    username_claim: str = Field(default="preferred_username", min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    #: The scope that asks the provider for an access token for the fivesafes API (Entra
    #: ID: ``api://fivesafes/.default``), requested by the CLI's device sign-in.
    api_scope: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        return _https_or_loopback(value, "issuer")

    @field_validator("access_token_issuer")
    @classmethod
    def _access_issuer_url(cls, value: str | None) -> str | None:
        return None if value is None else _https_or_loopback(value, "access_token_issuer")

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("scopes must include 'openid'")
        return value

    @property
    def access_token_issuers(self) -> tuple[str, ...]:
        """The issuers an API bearer token from this provider may name."""
        extra = () if self.access_token_issuer is None else (self.access_token_issuer,)
        return (self.issuer, *extra)

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def device_client_id(self) -> str:
        return self.cli_client_id or self.client_id

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


class IdentityPolicy(BaseModel):
    """Every configured provider; none (the shipped default) means local log-in only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: list[ProviderConfig] = Field(default_factory=list)

    def get(self, name: str) -> ProviderConfig | None:
        return next((p for p in self.providers if p.name == name), None)

    def for_issuer(self, issuer: str) -> ProviderConfig | None:
        """The provider whose ID tokens (and discovery document) name ``issuer``."""
        wanted = issuer.rstrip("/")
        return next((p for p in self.providers if p.issuer == wanted), None)

    def for_access_token_issuer(self, issuer: str) -> ProviderConfig | None:
        """The provider whose API access tokens may name ``issuer``."""
        wanted = issuer.rstrip("/")
        return next((p for p in self.providers if wanted in p.access_token_issuers), None)


def client_secret_variable(provider: ProviderConfig) -> str:
    """``FIVESAFES_OIDC_<NAME>_CLIENT_SECRET``, NAME upper-cased with ``-`` as ``_``."""
    return f"FIVESAFES_OIDC_{provider.name.upper().replace('-', '_')}_CLIENT_SECRET"


def client_secret(provider: ProviderConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The provider's client secret from the environment, or None (a public client)."""
    value = (os.environ if environ is None else environ).get(client_secret_variable(provider))
    return value or None


def _semantic_problems(policy: IdentityPolicy) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen_names: set[str] = set()
    seen_issuers: set[str] = set()
    for i, provider in enumerate(policy.providers):
        if provider.name in seen_names:
            problems.append((f"providers.{i}.name", f"duplicate provider {provider.name!r}"))
        for key, issuer in (
            ("issuer", provider.issuer),
            ("access_token_issuer", provider.access_token_issuer),
        ):
            if issuer is None:
                continue
            if issuer in seen_issuers:
                problems.append((f"providers.{i}.{key}", "another provider has this issuer"))
            seen_issuers.add(issuer)
        seen_names.add(provider.name)
        if provider.jwks_file is not None and not provider.jwks_file.is_file():
            problems.append((f"providers.{i}.jwks_file", f"no such file: {provider.jwks_file}"))
    return problems


def _message(error: Any) -> str:
    return problem_message(error, enum_noun="role")


_IDENTITY_POLICY = PolicyKind(
    IdentityPolicy, "identity policy", key_path, _message, _semantic_problems
)


def parse_identity_policy(data: Any, source: str = "<identity policy>") -> IdentityPolicy:
    """Validate loaded YAML; :class:`PolicyError` names every bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: the identity policy must be a mapping of keys to values")
    if data.get("providers") is None:
        data = {**data, "providers": []}
    return _IDENTITY_POLICY.validate(data, source)


def load_identity_policy(path: Path) -> IdentityPolicy:
    """Read and validate the identity policy (once, at start-up).

    The unset default falls back to the checkout's copy and, failing that, to no
    providers; a path someone configured must exist. Problems are raised as
    :class:`ConfigurationError` naming ``FIVESAFES_IDENTITY_POLICY``, the file and the key.
    """
    path = Path(path)
    if path == DEFAULT_IDENTITY_POLICY and not path.is_file():
        fallback = _CHECKOUT_ROOT / DEFAULT_IDENTITY_POLICY
        if not fallback.is_file():
            return IdentityPolicy()
        path = fallback
    try:
        return parse_identity_policy(read_policy_yaml(path, "identity policy"), str(path))
    except PolicyError as exc:
        raise ConfigurationError(f"FIVESAFES_IDENTITY_POLICY: {exc.message}") from None
