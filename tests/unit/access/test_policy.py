"""The access policy: the shipped file is valid; a bad one names the key that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fivesafes.access.policy import (
    Action,
    Scope,
    load_access_policy,
    parse_access_policy,
    resolve_policy_path,
)
from fivesafes.app import create_app
from fivesafes.config import load_settings
from fivesafes.errors import PolicyError
from fivesafes.identity.models import Role

SHIPPED = Path(__file__).resolve().parents[3] / "policies" / "access.yaml"


def _data() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def test_the_shipped_policy_is_valid_and_says_what_governance_expects() -> None:
    policy = load_access_policy(SHIPPED)
    assert policy.approvers_needed("standard") == 1
    assert policy.approvers_needed("sensitive") == 2
    assert policy.release.min_k == 5
    assert policy.release.small_number_threshold == 10
    assert policy.grants.max_duration_days == 365
    assert policy.scope_of(Role.RESEARCHER, Action.GRANT_USE) is Scope.MEMBER
    assert policy.scope_of(Role.GOVERNANCE, Action.GRANT_USE) is None
    assert policy.roles[Role.ADMIN] == {}
    # Uploaders govern nothing but may take back their own upload before any release.
    assert policy.roles[Role.UPLOADER] == {
        Action.DATASET_VERSION_WITHDRAW: Scope.UPLOADED_UNRELEASED
    }
    assert policy.scope_of(Role.GOVERNANCE, Action.DATASET_VERSION_WITHDRAW) is Scope.ANY
    assert policy.scope_of(Role.GOVERNANCE, Action.DATASET_VERSION_PURGE) is Scope.ANY
    assert policy.scope_of(Role.UPLOADER, Action.DATASET_VERSION_PURGE) is None


def test_the_default_path_falls_back_to_the_checkout(tmp_path: Path) -> None:
    # Tests run in an empty temporary folder: the default still finds the shipped file.
    assert resolve_policy_path(Path("policies/access.yaml")) == SHIPPED
    # An explicit path never falls back.
    assert resolve_policy_path(tmp_path / "nope.yaml") == tmp_path / "nope.yaml"


def _mutate(path: list[str], value: object) -> dict:
    data = _data()
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (["roles", "researcher", "grant.usee"], "member", "roles.researcher.grant.usee"),
        (["roles", "researcher", "grant.use"], "everyone", "roles.researcher.grant.use"),
        (["roles", "wizard"], {}, "roles.wizard"),
        (["roles", "admin"], KeyError, "roles.admin: every role must be listed"),
        (
            ["roles", "researcher", "project.create"],
            "member",
            "project.create only takes scope any",
        ),
        (["sensitivity_tiers", "sensitive"], KeyError, "sensitivity_tiers.sensitive"),
        (["sensitivity_tiers", "secret"], {"approvers": 3}, "sensitivity_tiers.secret"),
        (["sensitivity_tiers", "standard", "approvers"], 0, "sensitivity_tiers.standard.approvers"),
        (["grants", "max_duration_days"], -1, "grants.max_duration_days"),
        (["release", "min_k"], KeyError, "release.min_k: required key is missing"),
        (["release", "colour"], "blue", "release.colour: unknown key"),
        (["version"], "one", "version"),
        (
            ["roles", "uploader", "dataset_version.withdraw"],
            "member",
            "dataset_version.withdraw takes scope any or uploaded_unreleased",
        ),
        (
            ["roles", "researcher", "grant.use"],
            "uploaded_unreleased",
            "uploaded_unreleased applies to dataset version actions",
        ),
    ],
)
def test_a_bad_policy_names_the_key(path: list[str], value: object, fragment: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_access_policy(_mutate(path, value), "access.yaml")
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("access.yaml: invalid access policy")


def test_not_a_mapping_and_duplicate_keys_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="must be a mapping"):
        parse_access_policy(["roles"])
    dup = tmp_path / "dup.yaml"
    dup.write_text(SHIPPED.read_text() + "\nversion: 2\n")
    with pytest.raises(PolicyError, match="duplicate key 'version'"):
        load_access_policy(dup)
    with pytest.raises(PolicyError, match="not found"):
        load_access_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("roles: [unclosed\n")
    with pytest.raises(PolicyError, match=r"not valid YAML \(line"):
        load_access_policy(bad)


def test_a_bad_policy_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "access.yaml"
    bad.write_text(yaml.safe_dump(_mutate(["sensitivity_tiers", "sensitive"], KeyError)))
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", access_policy_path=bad)
    with pytest.raises(PolicyError, match=r"sensitivity_tiers\.sensitive"):
        create_app(settings)


def test_an_unknown_tier_fails_closed() -> None:
    with pytest.raises(PolicyError, match="no sensitivity tier 'secret'"):
        load_access_policy(SHIPPED).approvers_needed("secret")
