"""docs/identity.md is the reference the identity and governance teams work from: every
key of a provider entry is in its key table (with the model's default), every refusal
reason in its refusal table with the HTTP status the server really answers, every
setting it names exists with the default it states, and every YAML block in it, like the
shipped ``policies/identity.yaml``, is a valid identity policy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fivesafes.config import Settings, load_settings
from fivesafes.httpkit.errors import status_for
from fivesafes.identity.models import Role
from fivesafes.identity.oidc import web_flow
from fivesafes.identity.oidc.config import (
    IdentityPolicy,
    ProviderConfig,
    client_secret_variable,
    load_identity_policy,
    parse_identity_policy,
)
from fivesafes.identity.oidc.discovery import unavailable
from fivesafes.identity.oidc.refusals import RefusalReason, RoleRefused, TokenRefused
from fivesafes.identity.oidc.web_flow import SignInRefused

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "identity.md"
SHIPPED = ROOT / "policies" / "identity.yaml"
OIDC_CODE = [
    *sorted((ROOT / "platform" / "fivesafes" / "identity" / "oidc").glob("*.py")),
    *sorted((ROOT / "platform" / "fivesafes" / "web").glob("routes_oidc.py")),
]
#: Environment variables the page may name that are not server settings.
NOT_SETTINGS = {"FIVESAFES_TOKEN"}  # the CLI's token (fivesafes fetch)
SECRET_VARIABLE = re.compile(r"FIVESAFES_OIDC_(?:<NAME>|[A-Z0-9_]+)_CLIENT_SECRET")


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(heading: str) -> str:
    """The text from ``heading`` to the next heading of the same or a higher level."""
    text = _text()
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n")
    rest = text[start + len(heading) + 2 :]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def _table(section: str, first_column: str) -> dict[str, list[str]]:
    """Rows of the Markdown tables in ``section`` whose first cell is a backticked name
    matching ``first_column``, as name -> the other cells."""
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.fullmatch(rf"\| `({first_column})` \|(.*)\|", line.strip())
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def _documented() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", _text()))


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", _text(), re.S)


# -- the identity policy's keys ---------------------------------------------------------


def _key_table() -> dict[str, list[str]]:
    return _table(_section("## The identity policy (`policies/identity.yaml`)"), "[a-z_]+")


def test_the_key_table_lists_exactly_the_keys_of_a_provider_entry() -> None:
    assert set(_key_table()) == set(ProviderConfig.model_fields)


def test_the_key_table_says_which_keys_are_required() -> None:
    for name, (required, *_) in _key_table().items():
        field = ProviderConfig.model_fields[name]
        assert required == ("yes" if field.is_required() else "no"), name


def _as_written(value: Any) -> str:
    """A default as the page writes it in YAML-ish form."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def test_the_key_table_states_each_default() -> None:
    for name, (_required, default, *_) in _key_table().items():
        field = ProviderConfig.model_fields[name]
        if field.is_required():
            assert default == "", name
            continue
        value = field.get_default(call_default_factory=True)
        if value is None:
            # "none", or what it falls back to ("the `name`").
            assert default == "none" or default.startswith("the `"), name
        else:
            assert default == f"`{_as_written(value)}`", name


def test_the_walk_is_not_vacuous() -> None:
    table = _key_table()
    assert {"name", "issuer", "roles", "require_mfa", "jwks_file", "api_scope"} <= set(table)
    assert table["require_mfa"][1] == "`true`"
    assert table["scopes"][1] == "`[openid, profile, email]`"


# -- refusals ---------------------------------------------------------------------------

WEB_FLOW = ROOT / "platform" / "fivesafes" / "identity" / "oidc" / "web_flow.py"


def _provider() -> ProviderConfig:
    return ProviderConfig(
        name="p",
        issuer="https://idp.example/t/v2.0",
        client_id="c",
        audience="a",
        roles={"R": Role.RESEARCHER},
    )


def _statuses(reason: RefusalReason) -> set[int]:
    """The statuses the server answers ``reason`` with: a role problem is a permission,
    the rest an authentication failure; an unreachable provider is also the 503 of the
    discovery document or the token endpoint (the web sign-in)."""
    if reason in (RefusalReason.NO_ROLE, RefusalReason.AMBIGUOUS_ROLE):
        return {status_for(RoleRefused(reason, "refused"))}
    statuses = {status_for(TokenRefused(reason, "refused"))}
    if reason is RefusalReason.PROVIDER_UNAVAILABLE:
        outage = unavailable(_provider(), "down")
        assert outage.code == reason.value
        statuses.add(status_for(outage))
    return statuses


def _web_flow_codes() -> set[str]:
    """The reason codes the web sign-in refuses with before any token is checked (the
    code argument of each ``_refuse(session, trail, name, "code", ...)``)."""
    source = WEB_FLOW.read_text(encoding="utf-8")
    return set(re.findall(r'\bname,\s+"([a-z_]+)"', source))


def _refusal_table() -> dict[str, list[str]]:
    return _table(_section("## Refusals: reason codes and HTTP statuses"), "[a-z_]+")


def test_every_refusal_reason_has_a_row() -> None:
    assert {reason.value for reason in RefusalReason} <= set(_refusal_table())


def test_every_web_sign_in_refusal_has_a_row_and_nothing_else_does() -> None:
    codes = _web_flow_codes()
    assert {"state_missing", "state_mismatch", "provider_error", "code_rejected"} <= codes
    reasons = {reason.value for reason in RefusalReason}
    assert set(_refusal_table()) - reasons == codes


@pytest.mark.parametrize("reason", list(RefusalReason), ids=lambda r: r.value)
def test_each_reason_states_the_status_the_server_answers(reason: RefusalReason) -> None:
    status, meaning, cause = _refusal_table()[reason.value]
    assert {int(s) for s in re.findall(r"\d{3}", status)} == _statuses(reason)
    assert meaning
    assert cause


def test_each_web_sign_in_refusal_states_its_status() -> None:
    for code in _web_flow_codes():
        status, meaning, cause = _refusal_table()[code]
        assert int(status) == status_for(SignInRefused("refused", code=code)), code
        assert meaning, code
        assert cause, code


def test_the_refusal_classes_map_to_401_and_403() -> None:
    assert status_for(TokenRefused(RefusalReason.EXPIRED, "m")) == 401
    assert status_for(RoleRefused(RefusalReason.NO_ROLE, "m")) == 403


# -- audit events -----------------------------------------------------------------------


def test_every_oidc_audit_action_the_code_records_is_documented() -> None:
    recorded = {
        action
        for path in OIDC_CODE
        for action in re.findall(r'"(oidc\.[a-z_]+)"', path.read_text(encoding="utf-8"))
    }
    assert {"oidc.sign_in", "oidc.refused"} <= recorded
    audit_rows = _table(_section("## What is audited"), r"[a-z_]+\.[a-z_]+")
    assert recorded <= set(audit_rows)


# -- settings ---------------------------------------------------------------------------


def test_every_setting_the_page_names_exists() -> None:
    names = set(re.findall(r"FIVESAFES_(?:[A-Z0-9_]|<NAME>)+", _text()))
    settings = {f"FIVESAFES_{name.upper()}" for name in Settings.model_fields}
    unknown = {n for n in names - settings - NOT_SETTINGS if not SECRET_VARIABLE.fullmatch(n)}
    assert unknown == set()


def test_the_settings_table_states_each_default() -> None:
    rows = _table(_section("## Settings"), r"FIVESAFES_[A-Z_]+")
    oidc = {"identity_policy", "local_login", "oidc_jwks_min_refresh_seconds"}
    oidc |= {"oidc_http_timeout_seconds"}
    assert {f"FIVESAFES_{n.upper()}" for n in oidc} <= set(rows)
    for variable, (default, _meaning) in rows.items():
        value = Settings.model_fields[variable.removeprefix("FIVESAFES_").lower()].default
        if value in ("", None):
            assert default == "none", variable
        elif isinstance(value, float) and value.is_integer():
            assert default == f"`{int(value)}`", variable
        else:
            assert default == f"`{_as_written(value)}`", variable


# -- policies ---------------------------------------------------------------------------


def test_every_yaml_block_of_the_page_is_a_valid_identity_policy() -> None:
    blocks = _yaml_blocks()
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        policy = parse_identity_policy(yaml.safe_load(block), f"docs/identity.md block {i}")
        assert policy.providers


def test_the_sample_names_each_providers_secret_and_redirect_uri() -> None:
    sample = _section("### Sample `policies/identity.yaml`: a trust tenant and a university")
    block = re.search(r"```yaml\n(.*?)```", sample, re.S)
    assert block
    policy = parse_identity_policy(yaml.safe_load(block.group(1)), "sample")
    assert len(policy.providers) == 2
    entra = policy.providers[0]
    assert entra.issuer.startswith("https://login.microsoftonline.com/")
    assert entra.issuer.endswith("/v2.0")
    # v2.0 access tokens carry the API registration's client id as aud.
    assert entra.audience == entra.client_id
    # Entra ID's sub differs per application: the web and CLI sign-ins must meet on oid.
    assert entra.subject_claim == "oid"
    assert entra.api_scope == "api://fivesafes/.default"
    for provider in policy.providers:
        assert client_secret_variable(provider) in sample
        if provider is not entra:
            assert f"/web/login/oidc/{provider.name}/callback" in sample


def test_the_page_gives_the_redirect_uris_the_server_sends() -> None:
    text = _text()
    assert "`<FIVESAFES_PUBLIC_URL>/web/login/oidc/<name>/callback`" in text
    assert "`<FIVESAFES_PUBLIC_URL>/web/login?notice=logged_out`" in text
    # The worked examples are what the web flow really builds for that public URL.
    settings = load_settings(public_url="https://tre.example.nhs.uk")
    assert f"`{web_flow.redirect_uri(settings, 'esneft')}`" in text
    assert f"`{web_flow.logged_out_url(settings)}`" in text


def test_the_shipped_identity_policy_parses() -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    assert isinstance(parse_identity_policy(data, str(SHIPPED)), IdentityPolicy)
    assert isinstance(load_identity_policy(SHIPPED), IdentityPolicy)


def test_the_shipped_policys_commented_example_is_valid() -> None:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    start = lines.index("# providers:")
    example = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        example.append(line.removeprefix("# "))
    policy = parse_identity_policy(yaml.safe_load("\n".join(example)), "commented example")
    assert len(policy.providers) == 1
