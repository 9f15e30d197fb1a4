"""The identity policy: every problem named by its key, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fivesafes.errors import ConfigurationError, PolicyError
from fivesafes.identity.models import Role
from fivesafes.identity.oidc.config import (
    IdentityPolicy,
    client_secret,
    client_secret_variable,
    load_identity_policy,
    parse_identity_policy,
)


def entry(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "esneft",
        "issuer": "https://login.example/tenant/v2.0",
        "client_id": "fivesafes-web",
        "audience": "api://fivesafes",
        "roles": {"FiveSafes.Uploader": "uploader"},
    }
    data.update(overrides)
    return data


def problems(*entries: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_identity_policy({"providers": list(entries)}, "identity.yaml")
    return caught.value.message


def test_a_valid_entry_has_safe_defaults() -> None:
    [provider] = parse_identity_policy({"providers": [entry()]}).providers
    assert provider.require_mfa is True
    assert provider.role_claim == "roles"
    assert provider.subject_claim == "sub"
    assert provider.roles == {"FiveSafes.Uploader": Role.UPLOADER}
    assert provider.label == "esneft"
    assert provider.device_client_id == "fivesafes-web"
    assert provider.discovery_url == (
        "https://login.example/tenant/v2.0/.well-known/openid-configuration"
    )
    assert provider.access_token_issuers == ("https://login.example/tenant/v2.0",)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"issuer": "http://login.example/t"}, "providers.0.issuer: issuer must be an https://"),
        ({"roles": {"X": "approver"}}, "providers.0.roles.X: unknown role 'approver'"),
        ({"roles": {}}, "providers.0.roles:"),
        ({"name": "Has Spaces"}, "providers.0.name:"),
        ({"client_secret": "s3cret"}, "providers.0.client_secret: unknown key"),
        ({"scopes": ["profile"]}, "providers.0.scopes: scopes must include 'openid'"),
        ({"access_token_issuer": "ftp://x"}, "providers.0.access_token_issuer:"),
        ({"jwks_file": "/nowhere/jwks.json"}, "providers.0.jwks_file: no such file"),
    ],
)
def test_each_problem_is_named_by_its_key(overrides: dict[str, Any], named: str) -> None:
    message = problems(entry(**overrides))
    assert message.startswith("identity.yaml: invalid identity policy:")
    assert named in message


def test_a_missing_key_is_named() -> None:
    data = entry()
    del data["audience"]
    assert "providers.0.audience: required key is missing" in problems(data)


def test_http_is_allowed_on_loopback_only() -> None:
    policy = parse_identity_policy({"providers": [entry(issuer="http://127.0.0.1:9/t")]})
    assert policy.providers[0].issuer == "http://127.0.0.1:9/t"


def test_names_and_issuers_are_unique_across_providers() -> None:
    message = problems(entry(), entry(issuer="https://other.example/v2.0"))
    assert "providers.1.name: duplicate provider 'esneft'" in message
    message = problems(entry(), entry(name="uni"))
    assert "providers.1.issuer: another provider has this issuer" in message
    message = problems(
        entry(access_token_issuer="https://sts.example/t/"),
        entry(name="uni", issuer="https://sts.example/t/"),
    )
    assert "providers.1.issuer: another provider has this issuer" in message


def test_lookups_by_issuer() -> None:
    policy = parse_identity_policy(
        {"providers": [entry(access_token_issuer="https://sts.example/t/")]}
    )
    assert policy.for_issuer("https://login.example/tenant/v2.0/") is policy.providers[0]
    assert policy.for_issuer("https://sts.example/t") is None
    assert policy.for_access_token_issuer("https://sts.example/t/") is policy.providers[0]
    assert policy.get("esneft") is policy.providers[0]
    assert policy.get("uni") is None


def test_the_client_secret_comes_from_the_environment_only() -> None:
    [provider] = parse_identity_policy({"providers": [entry(name="uni-of-x")]}).providers
    assert client_secret_variable(provider) == "FIVESAFES_OIDC_UNI_OF_X_CLIENT_SECRET"
    assert client_secret(provider, {"FIVESAFES_OIDC_UNI_OF_X_CLIENT_SECRET": "s"}) == "s"
    assert client_secret(provider, {"FIVESAFES_OIDC_UNI_OF_X_CLIENT_SECRET": ""}) is None
    assert client_secret(provider, {}) is None


def test_an_empty_file_or_null_providers_means_none() -> None:
    assert parse_identity_policy(None) == IdentityPolicy()
    assert parse_identity_policy({"providers": None}) == IdentityPolicy()
    with pytest.raises(PolicyError, match="must be a mapping"):
        parse_identity_policy(["providers"])


def test_loading_names_the_variable_the_file_and_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "identity.yaml"
    broken.write_text("providers:\n  - name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_identity_policy(broken)
    message = caught.value.message
    assert message.startswith("FIVESAFES_IDENTITY_POLICY: ")
    assert str(broken) in message
    assert "not valid YAML (line 3, column 1)" in message


def test_the_unset_default_falls_back_to_the_shipped_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no policies/ here: the checkout's copy lists none
    assert load_identity_policy(Path("policies/identity.yaml")) == IdentityPolicy()
