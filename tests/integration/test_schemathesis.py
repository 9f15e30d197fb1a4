"""Schemathesis over the app's own OpenAPI document, on both dialects, as an admin, a
governance officer and a researcher: no request may earn a 5xx, and every response
must conform to the schema (status code, content type, body).

Bounded so that the run stays well under two minutes on two cores: a few examples of each
operation, valid (positive) and invalid (negative) data, no shrinking. The requests go
to the app in process, its lifespan running as in `fivesafes serve` (no upload is
accepted from these roles). Counts are printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore

# A generated sweep: in `make test`, not in the `make test-fast` inner loop.
pytestmark = pytest.mark.slow

TRAIL = AuditTrail.for_operator()
EXAMPLES = 6  # per operation, role and generation mode
ROLES = (Role.ADMIN, Role.GOVERNANCE, Role.RESEARCHER)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Tally:
    operations: set[str] = field(default_factory=set)
    examples: int = 0
    unsatisfiable: int = 0
    unsendable: int = 0
    server_errors: list[str] = field(default_factory=list)
    nonconforming: list[str] = field(default_factory=list)


@pytest.fixture
def tokens(session_factory: sessionmaker[Session]) -> dict[Role, str]:
    made = {}
    with session_factory() as session:
        for role in ROLES:
            user = identity.create_user(session, TRAIL, f"fuzz_{role.value}", role)
            made[role] = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
    return made


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    LocalFileKeyStore(settings.keystore_path).init()  # checkpoints need a signing key
    return create_app(settings)


def _run_operation(
    client: TestClient, operation: Any, token: str, mode: GenerationMode, tally: Tally
) -> None:
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: Any) -> None:
        kwargs = case.as_transport_kwargs(headers={"Authorization": f"Bearer {token}"})
        kwargs.pop("base_url", None)
        url = kwargs.pop("url", None) or case.formatted_path
        method = kwargs.pop("method")
        request_kwargs = {
            k: kwargs[k]
            for k in ("params", "headers", "json", "content", "data", "files", "cookies")
            if k in kwargs
        }
        if "json" in request_kwargs and request_kwargs["json"] is None:
            request_kwargs.pop("json")
        cookies = request_kwargs.pop("cookies", None) or {}
        client.cookies.clear()
        client.cookies.update(cookies)
        try:
            request = client.build_request(method, url, **request_kwargs)
            request.read()  # a multipart body is a stream; the checks read it back
        except (TypeError, AttributeError):
            tally.unsendable += 1  # generated data httpx cannot encode (an int as a file)
            return
        response = client.send(request)
        tally.examples += 1
        label = f"{method} {case.path} [{mode.value}] -> {response.status_code}"
        if response.status_code >= 500:
            tally.server_errors.append(f"{label}: {response.text[:200]}")
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # every failure is collected, then reported together
            tally.nonconforming.append(f"{label}: {str(exc).splitlines()[0][:200]}")

    try:
        exercise()
    except Unsatisfiable:
        tally.unsatisfiable += 1  # negative data for an operation with nothing to negate


def test_no_server_error_and_the_schema_holds(
    app: FastAPI, tokens: dict[Role, str], capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_dict(app.openapi())
    tally = Tally()
    # With the lifespan, as served: the ingestion runner and the audit loops are running.
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            tally.operations.add(operation.label)
            for role in ROLES:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    _run_operation(client, operation, tokens[role], mode, tally)
    with capsys.disabled():
        print(
            f"\nschemathesis: {len(tally.operations)} operations, {tally.examples} examples, "
            f"{len(tally.server_errors)} server errors, {len(tally.nonconforming)} "
            "non-conforming responses"
        )
    assert len(tally.operations) >= 40
    assert tally.server_errors == [], "\n".join(tally.server_errors)
    assert tally.nonconforming == [], "\n".join(tally.nonconforming)
