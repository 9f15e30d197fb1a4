"""`fivesafes requests approve` takes the disclosure preview as the API does: against a
refusal it needs --override-reason (exit 2, naming it), which is then recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fivesafes.access.models import RequestReview
from fivesafes.cli.main import app
from fivesafes.config import Settings, reset_settings_cache
from fivesafes.keys.local import LocalFileKeyStore
from tests.factories.extracts import ADMISSIONS
from tests.factories.release_world import World

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def shell(world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's settings: the world's database, a key store of its own (counts do not
    depend on the project keys: each is a permutation) and a policy refusing small classes."""
    keys = world.tmp / "cli-keys"
    LocalFileKeyStore(keys).init()
    refusing = world.tmp / "access.yaml"
    shipped = (REPO / "policies" / "access.yaml").read_text(encoding="utf-8")
    refusing.write_text(shipped.replace("small_classes: suppress", "small_classes: refuse"))
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(keys))
    monkeypatch.setenv("FIVESAFES_ACCESS_POLICY_PATH", str(refusing))
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()  # the world's app read the settings already


def test_approving_a_refused_release_from_the_shell_needs_an_override(
    world: World, shell: None
) -> None:
    created = world.client.post(
        f"/projects/{world.projects['a']}/requests",
        json={
            "dataset": ADMISSIONS,
            "columns": ["nhs_number", "date_of_birth", "postcode"],
            "justification": "Readmissions by district are the primary outcome.",
        },
        headers=world.people["a"].auth,
    )
    assert created.status_code == 201, created.text
    request_id = str(created.json()["id"])
    officer = world.people["officer"].user.username
    approve = ["requests", "approve", request_id, "--as", officer, "--reason", "Protocol."]

    refused = CliRunner().invoke(app, approve)
    assert refused.exit_code == 2, refused.output
    assert "override_reason is required" in refused.output
    assert "Driven by: postcode" in refused.output

    approved = CliRunner().invoke(app, [*approve, "--override-reason", "Agreed at IG board."])
    assert approved.exit_code == 0, approved.output
    assert f"request {request_id}: approved" in approved.output
    with world.factory() as session:
        (review,) = session.scalars(select(RequestReview)).all()
        assert review.override_reason == "Agreed at IG board."
