"""The API accepts identity providers' access tokens (issue 16), in process, both dialects.

The providers are real: the test identity provider (tests/oidc_idp) serves discovery and
its JWKS over loopback HTTP, and signs with keys made for this run. Every refusal the
issue names is answered with its reason code and audited with the issuer and subject,
never with the token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app as cli
from fivesafes.config import Settings, load_settings
from fivesafes.db import utcnow
from fivesafes.errors import ConfigurationError
from fivesafes.identity import service
from fivesafes.identity.models import Role, User
from fivesafes.identity.oidc.models import FederatedIdentity
from tests.oidc_idp import TestIdentityProvider

UPLOADER = ["FiveSafes.Uploader"]
GOVERNANCE = ["FiveSafes.Governance"]
MFA = ["pwd", "mfa"]


def _write_policy(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"providers": list(entries)}, default=str), encoding="utf-8")
    return path  # JSON is YAML


@pytest.fixture
def oidc_settings(
    settings: Settings,
    tmp_path: Path,
    oidc_idp: TestIdentityProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    policy = _write_policy(tmp_path / "identity.yaml", oidc_idp.provider_config())
    for name, value in oidc_idp.client_secret_env().items():
        monkeypatch.setenv(name, value)
    return settings.model_copy(
        update={"identity_policy": policy, "oidc_jwks_min_refresh_seconds": 0}
    )


@pytest.fixture
def client(oidc_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(oidc_settings)) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def _details(event: AuditEvent) -> dict[str, Any]:
    details = event.details
    return json.loads(details) if isinstance(details, str) else dict(details)


def _users(factory: sessionmaker[Session]) -> list[User]:
    with factory() as session:
        return list(session.scalars(select(User).order_by(User.username)))


def test_first_sign_in_creates_the_user_with_the_mapped_role(
    client: TestClient, oidc_idp: TestIdentityProvider, session_factory: sessionmaker[Session]
) -> None:
    oidc_idp.set_user(
        "sub-ada",
        preferred_username="Ada.Lovelace@trust.nhs.uk",
        name="Ada Lovelace",
        roles=GOVERNANCE,
        amr=MFA,
    )
    token = oidc_idp.mint()
    me = client.get("/me", headers=_bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "governance"
    assert me.json()["username"] == "ada.lovelace"
    # The same token again is the same user, and not another sign-in.
    assert client.get("/me", headers=_bearer(token)).json()["id"] == me.json()["id"]
    [signed_in] = _events(session_factory, "oidc.sign_in")
    assert _details(signed_in) == {
        "provider": oidc_idp.name,
        "issuer": oidc_idp.issuer,
        "subject": "sub-ada",
        "via": "api",
        "role": "governance",
    }
    [created] = _events(session_factory, "user.create")
    assert _details(created) == {
        "role": "governance",
        "source": "provider",
        "provider": oidc_idp.name,
        "issuer": oidc_idp.issuer,
        "subject": "sub-ada",
    }
    # A new token (the client refreshed) is a new sign-in.
    client.get("/me", headers=_bearer(oidc_idp.mint()))
    assert len(_events(session_factory, "oidc.sign_in")) == 2
    with session_factory() as session:
        link = session.scalar(select(FederatedIdentity))
        assert link is not None
        assert (link.issuer, link.subject, link.provider_role) == (
            oidc_idp.issuer,
            "sub-ada",
            "governance",
        )


def test_a_federated_account_never_takes_over_a_local_username(
    client: TestClient, oidc_idp: TestIdentityProvider, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        service.create_user(session, AuditTrail.for_operator(), "ada", Role.ADMIN)
        session.commit()
    oidc_idp.set_user("sub-ada", preferred_username="ada", roles=UPLOADER, amr=MFA)
    me = client.get("/me", headers=_bearer(oidc_idp.mint())).json()
    assert (me["username"], me["role"]) == ("ada-2", "uploader")


REFUSALS = [
    # (case, how the token is made, reason code)
    ("expired", lambda idp: idp.mint(now=utcnow() - timedelta(hours=2)), "expired"),
    ("not yet valid", lambda idp: idp.mint(now=utcnow() + timedelta(minutes=10)), "not_yet_valid"),
    ("bad signature", lambda idp: idp.mint_foreign(same_kid=True), "bad_signature"),
    ("unknown key", lambda idp: idp.mint_foreign(same_kid=False), "unknown_key"),
    ("wrong audience", lambda idp: idp.mint(audience="api://someone-else"), "wrong_audience"),
    ("wrong issuer", lambda idp: idp.mint(iss="https://login.example/other/v2.0"), "wrong_issuer"),
    ("no mfa", lambda idp: idp.mint(amr=["pwd"]), "mfa_required"),
    ("alg none", lambda idp: idp.mint_unsigned(), "bad_signature"),
    ("alg HS256", lambda idp: idp.mint_hmac(), "bad_signature"),
]


@pytest.mark.parametrize(("case", "make", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal_is_401_with_its_reason_and_audited_without_the_token(
    client: TestClient,
    oidc_idp: TestIdentityProvider,
    session_factory: sessionmaker[Session],
    case: str,
    make: Any,
    reason: str,
) -> None:
    oidc_idp.set_user("sub-eve", preferred_username="eve", roles=UPLOADER, amr=MFA)
    token = make(oidc_idp)
    response = client.get("/me", headers=_bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == reason
    assert token not in response.text
    [refused] = _events(session_factory, "oidc.refused")
    assert refused.outcome == "denied"
    details = _details(refused)
    assert details["reason"] == reason
    assert details["via"] == "api"
    assert token not in json.dumps(details)
    signature = token.split(".")[2]
    assert not signature or signature not in json.dumps(details)
    assert _users(session_factory) == []  # no account for a refused token


def test_a_token_mapping_to_no_role_is_403_and_makes_no_account(
    client: TestClient, oidc_idp: TestIdentityProvider, session_factory: sessionmaker[Session]
) -> None:
    oidc_idp.set_user("sub-nobody", preferred_username="nobody", roles=["Other.App"], amr=MFA)
    response = client.get("/me", headers=_bearer(oidc_idp.mint()))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_role"
    assert _users(session_factory) == []
    [refused] = _events(session_factory, "oidc.refused")
    assert _details(refused)["subject"] == "sub-nobody"
    assert _details(refused)["issuer"] == oidc_idp.issuer


def test_roles_mapping_to_two_fivesafes_roles_are_refused(
    client: TestClient, oidc_idp: TestIdentityProvider, session_factory: sessionmaker[Session]
) -> None:
    oidc_idp.set_user("sub-two", preferred_username="two", roles=UPLOADER + GOVERNANCE, amr=MFA)
    response = client.get("/me", headers=_bearer(oidc_idp.mint()))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ambiguous_role"
    assert _users(session_factory) == []


def test_a_role_changed_at_the_provider_changes_here_and_ends_what_the_old_one_opened(
    client: TestClient, oidc_idp: TestIdentityProvider, session_factory: sessionmaker[Session]
) -> None:
    oidc_idp.set_user("sub-bo", preferred_username="bo", roles=GOVERNANCE, amr=MFA)
    first = oidc_idp.mint()
    minted = client.post(
        "/tokens", json={"name": "from-jwt", "lifetime_days": 1}, headers=_bearer(first)
    )
    assert minted.status_code == 201, minted.text
    fs_token = minted.json()["token"]
    assert client.get("/me", headers=_bearer(fs_token)).status_code == 200
    oidc_idp.set_user("sub-bo", preferred_username="bo", roles=UPLOADER, amr=MFA)
    me = client.get("/me", headers=_bearer(oidc_idp.mint()))
    assert me.json()["role"] == "uploader"
    [changed] = _events(session_factory, "user.change_role")
    assert _details(changed) == {
        "from": "governance",
        "to": "uploader",
        "sessions_ended": True,
        "source": "provider",
        "provider": oidc_idp.name,
        "issuer": oidc_idp.issuer,
        "subject": "sub-bo",
    }
    # The token minted under the governance role died with it.
    assert client.get("/me", headers=_bearer(fs_token)).status_code == 401
    # A minted token never outlives the provider's token it was minted with.
    with session_factory() as session:
        assert len(list(session.scalars(select(User)))) == 1


def test_a_role_removed_at_the_provider_is_removed_at_the_next_sign_in(
    client: TestClient, oidc_idp: TestIdentityProvider, session_factory: sessionmaker[Session]
) -> None:
    oidc_idp.set_user("sub-cy", preferred_username="cy", roles=GOVERNANCE, amr=MFA)
    minted = client.post(
        "/tokens", json={"name": "t", "lifetime_days": 1}, headers=_bearer(oidc_idp.mint())
    ).json()["token"]
    oidc_idp.set_user("sub-cy", preferred_username="cy", roles=[], amr=MFA)
    response = client.get("/me", headers=_bearer(oidc_idp.mint()))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_role"
    [refused] = _events(session_factory, "oidc.refused")
    assert _details(refused)["sessions_ended"] is True
    assert client.get("/me", headers=_bearer(minted)).status_code == 401
    with session_factory() as session:
        link = session.scalar(select(FederatedIdentity))
        assert link is not None
        assert link.provider_role is None


def test_an_admin_disabled_user_stays_disabled_whatever_the_token_says(
    client: TestClient, oidc_idp: TestIdentityProvider, session_factory: sessionmaker[Session]
) -> None:
    oidc_idp.set_user("sub-dee", preferred_username="dee", roles=UPLOADER, amr=MFA)
    assert client.get("/me", headers=_bearer(oidc_idp.mint())).status_code == 200
    with session_factory() as session:
        service.disable_user(session, AuditTrail.for_operator(), "dee")
        session.commit()
    oidc_idp.set_user("sub-dee", preferred_username="dee", roles=GOVERNANCE, amr=MFA)
    response = client.get("/me", headers=_bearer(oidc_idp.mint()))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "user_disabled"
    [user] = _users(session_factory)
    assert (user.is_active, user.role) == (False, Role.UPLOADER)
    [refused] = _events(session_factory, "oidc.refused")
    assert _details(refused)["reason"] == "user_disabled"


def test_a_rotated_key_is_fetched_on_first_sight(
    client: TestClient, oidc_idp: TestIdentityProvider
) -> None:
    oidc_idp.set_user("sub-ed", preferred_username="ed", roles=UPLOADER, amr=MFA)
    old = oidc_idp.mint()
    assert client.get("/me", headers=_bearer(old)).status_code == 200
    oidc_idp.rotate_key(keep_old=True)
    assert client.get("/me", headers=_bearer(oidc_idp.mint())).status_code == 200
    assert client.get("/me", headers=_bearer(old)).status_code == 200  # still published
    oidc_idp.rotate_key(keep_old=False)
    assert client.get("/me", headers=_bearer(oidc_idp.mint())).status_code == 200
    # The refetched JWKS no longer holds the first key: its tokens are refused.
    response = client.get("/me", headers=_bearer(old))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unknown_key"


def test_two_providers_at_once(
    settings: Settings,
    tmp_path: Path,
    oidc_idp: TestIdentityProvider,
    second_oidc_idp: TestIdentityProvider,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = _write_policy(
        tmp_path / "two.yaml", oidc_idp.provider_config(), second_oidc_idp.provider_config()
    )
    for idp in (oidc_idp, second_oidc_idp):
        for name, value in idp.client_secret_env().items():
            monkeypatch.setenv(name, value)
    both = settings.model_copy(update={"identity_policy": policy})
    with TestClient(create_app(both)) as client:
        listed = client.get("/auth/providers").json()
        assert [p["name"] for p in listed] == [oidc_idp.name, second_oidc_idp.name]
        assert "secret" not in json.dumps(listed).lower()
        # The same subject at two providers is two people.
        oidc_idp.set_user("same-sub", preferred_username="sam", roles=UPLOADER, amr=MFA)
        second_oidc_idp.set_user(
            "same-sub", preferred_username="sam", roles=["FiveSafes.Researcher"], amr=MFA
        )
        trust = client.get("/me", headers=_bearer(oidc_idp.mint())).json()
        uni = client.get("/me", headers=_bearer(second_oidc_idp.mint())).json()
        assert trust["id"] != uni["id"]
        assert (trust["role"], uni["role"]) == ("uploader", "researcher")
        # One provider's key does not vouch for a token claiming the other's issuer.
        forged = oidc_idp.mint(iss=second_oidc_idp.issuer)
        response = client.get("/me", headers=_bearer(forged))
        assert response.status_code == 401
        assert response.json()["error"]["code"] in {"unknown_key", "bad_signature"}


def test_an_air_gapped_provider_reads_its_keys_from_a_file(
    settings: Settings, tmp_path: Path, oidc_idp: TestIdentityProvider
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(oidc_idp.jwks()), encoding="utf-8")
    policy = _write_policy(tmp_path / "gapped.yaml", oidc_idp.provider_config(jwks_file=str(jwks)))
    oidc_idp.set_user("sub-fay", preferred_username="fay", roles=UPLOADER, amr=MFA)
    before = oidc_idp.jwks_requests
    with TestClient(create_app(settings.model_copy(update={"identity_policy": policy}))) as c:
        assert c.get("/me", headers=_bearer(oidc_idp.mint())).status_code == 200
    assert oidc_idp.jwks_requests == before


def test_fivesafes_tokens_still_work_beside_provider_tokens(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        user = service.create_user(session, AuditTrail.for_operator(), "local", Role.ADMIN)
        secret = service.issue_token(
            session, AuditTrail.for_operator(), user, "t", timedelta(days=1)
        ).secret
        session.commit()
    assert client.get("/me", headers=_bearer(secret)).json()["username"] == "local"
    response = client.get("/me", headers=_bearer("fs_not-a-real-token"))
    assert response.status_code == 401
    assert _events(session_factory, "oidc.refused") == []


def test_a_bad_identity_policy_stops_start_up_naming_the_key(
    settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        "providers:\n  - name: esneft\n    issuer: http://login.example/t\n"
        "    client_id: a\n    audience: b\n    roles: {X: approver}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as raised:
        create_app(settings.model_copy(update={"identity_policy": policy}))
    message = raised.value.message
    assert "FIVESAFES_IDENTITY_POLICY" in message
    assert "providers.0.issuer" in message
    assert "providers.0.roles.X" in message


def test_a_missing_identity_policy_file_that_was_configured_stops_start_up(
    settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="identity policy file not found"):
        create_app(settings.model_copy(update={"identity_policy": tmp_path / "none.yaml"}))


def test_the_shipped_policy_configures_no_provider(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/auth/providers").json() == []


def test_settings_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIVESAFES_LOCAL_LOGIN", "false")
    monkeypatch.setenv("FIVESAFES_IDENTITY_POLICY", "/etc/fivesafes/identity.yaml")
    loaded = load_settings()
    assert loaded.local_login is False
    assert loaded.identity_policy == Path("/etc/fivesafes/identity.yaml")


def test_users_list_names_the_provider_each_user_signs_in_with(
    client: TestClient,
    oidc_idp: TestIdentityProvider,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oidc_idp.set_user("sub-gil", preferred_username="gil", roles=UPLOADER, amr=MFA)
    assert client.get("/me", headers=_bearer(oidc_idp.mint())).status_code == 200
    oidc_idp.set_user("sub-hal", preferred_username="hal", roles=UPLOADER, amr=MFA)
    assert client.get("/me", headers=_bearer(oidc_idp.mint())).status_code == 200
    oidc_idp.set_user("sub-hal", preferred_username="hal", roles=[], amr=MFA)
    assert client.get("/me", headers=_bearer(oidc_idp.mint())).status_code == 403
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["users", "list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if "│" in line[:3]}
    assert f"{oidc_idp.name} " in rows["gil"]
    assert "(no role there)" in rows["hal"]
