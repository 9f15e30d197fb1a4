"""Pytest fixtures for the test identity provider (registered by tests/conftest.py).

One server per test module (threads and sockets are cheap, but not free), reset before
every test so no user, key, code or counter leaks from one test into the next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.oidc_idp.server import TestIdentityProvider


def identity_policy_file(tmp_path: Path, *idps: TestIdentityProvider | Mapping[str, Any]) -> Path:
    """Write ``identity.yaml`` (``providers: [...]``) for these providers; return its path.

    Each is a running provider (its ``provider_config()``) or an entry already made, such
    as ``idp.provider_config(require_mfa=False)``. A ``tmp_path`` ending in .yaml / .yml
    is the file itself; otherwise the file is ``tmp_path / "identity.yaml"``.
    """
    path = tmp_path if tmp_path.suffix in {".yaml", ".yml"} else tmp_path / "identity.yaml"
    providers = [
        {
            key: str(value) if isinstance(value, Path) else value  # jwks_file=Path(...)
            for key, value in (
                idp.provider_config() if isinstance(idp, TestIdentityProvider) else idp
            ).items()
        }
        for idp in idps
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"providers": providers}, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def oidc_idp_server() -> Iterator[TestIdentityProvider]:
    """The module's provider behind ``oidc_idp``, never reset: for a module-scoped platform
    server (an e2e process) that caches the JWKS; reset it yourself, ``keep_key=True``."""
    with TestIdentityProvider() as idp:
        yield idp


@pytest.fixture(scope="module")
def second_oidc_idp_server() -> Iterator[TestIdentityProvider]:
    """The module's provider behind ``second_oidc_idp``, never reset."""
    # Another tenant: its own port (so its own issuer), keys, clients and algorithm.
    with TestIdentityProvider(
        "uni",
        issuer_path="/realms/uni",
        client_id="fivesafes-uni-web",
        cli_client_id="fivesafes-uni-cli",
        audience="api://fivesafes-uni",
        alg="ES256",
    ) as idp:
        yield idp


@pytest.fixture
def oidc_idp(oidc_idp_server: TestIdentityProvider) -> TestIdentityProvider:
    """A running test identity provider ("testidp", RS256), fresh for this test."""
    oidc_idp_server.reset()
    return oidc_idp_server


@pytest.fixture
def second_oidc_idp(
    second_oidc_idp_server: TestIdentityProvider,
) -> TestIdentityProvider:
    """Another running provider ("uni", ES256, its own issuer and keys), fresh for this test."""
    second_oidc_idp_server.reset()
    return second_oidc_idp_server
