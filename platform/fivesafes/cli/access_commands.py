"""`fivesafes projects|requests|grants|access ...`: the access services from the shell.

Thin, like the API routes: every command names the user it acts as (``--as``), and the
services ask ``decide`` for that user exactly as they do for an API call, so separation
of duties holds here too. Shell access to the server is what vouches for ``--as``; the
audit trail records the user acted as.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.engine import Engine

from fivesafes.access import grants as grant_service
from fivesafes.access import service
from fivesafes.access.acting import Acting
from fivesafes.access.models import RequestState
from fivesafes.access.policy import Action, load_access_policy
from fivesafes.access.schemas import ProjectIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.runtime import console, handle_errors, transaction
from fivesafes.config import get_settings
from fivesafes.db import utcnow
from fivesafes.errors import InvalidInputError
from fivesafes.identity import service as identity
from fivesafes.keys.open import open_keystore
from fivesafes.release.preview import Previewer, review_with_preview
from fivesafes.validation_messages import describe_problems

projects_app = typer.Typer(help="Research projects.", no_args_is_help=True)
requests_app = typer.Typer(help="Data access requests and their review.", no_args_is_help=True)
grants_app = typer.Typer(help="Grants: list and revoke.", no_args_is_help=True)
access_app = typer.Typer(help="Access decisions.", no_args_is_help=True)

As = Annotated[str, typer.Option("--as", help="Username of the person acting")]
Reason = Annotated[str, typer.Option(help="Why (kept with the decision)")]


def register(app: typer.Typer) -> None:
    app.add_typer(projects_app, name="projects")
    app.add_typer(requests_app, name="requests")
    app.add_typer(grants_app, name="grants")
    app.add_typer(access_app, name="access")


@contextmanager
def acting(username: str) -> Iterator[Acting]:
    """One transaction acting as ``username`` (committed when the command succeeds); the
    trail records that user as the actor."""
    policy = load_access_policy(get_settings().access_policy_path)
    with transaction() as session:
        user = identity.get_user(session, username)
        trail = AuditTrail.for_operator().acting_as(identity.actor_of(user))
        yield Acting(session, trail, policy, user, utcnow())


#: Carries out an approval (True) or rejection of the project or request with that id, as
#: the user acting, and says what became of it.
Decide = Callable[[Acting, int, bool, str], str]


def _decision_command(
    app: typer.Typer, verb: str, what: str, decide: Decide, help_text: str
) -> None:
    """``approve ID`` or ``reject ID`` with ``--as`` and ``--reason``: one shape for the
    four decisions on projects and requests."""
    approve = verb == "approve"
    # A default, not Annotated[...]: annotations are strings here, unresolvable in a closure.
    target = typer.Argument(metavar=f"{what.upper()}_ID", help=f"The {what}'s id")

    @app.command(verb, help=help_text)
    @handle_errors
    def command(as_user: As, reason: Reason, target_id: int = target) -> None:
        with acting(as_user) as a:
            outcome = decide(a, target_id, approve, reason)
        console.print(outcome)


def _day(value: object) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else "-"


# --------------------------------------------------------------------------- projects


@projects_app.command("create")
@handle_errors
def create_project(
    file: Annotated[Path, typer.Argument(help="YAML or JSON with the project's fields")],
    as_user: As,
) -> None:
    """Create an active project (governance) from a file of its fields."""
    try:
        body = ProjectIn.model_validate(yaml.safe_load(file.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"{file}: cannot read: {exc}") from None
    except ValidationError as exc:
        raise InvalidInputError(
            f"{file}: {describe_problems(exc.errors(), whole='(top level)')}"
        ) from None
    with acting(as_user) as a:
        project = service.create_project(*a.writing, body=body, now=a.now)
        console.print(f"created project {project.id} ({project.state})")


@projects_app.command("list")
@handle_errors
def list_projects(as_user: As) -> None:
    """Projects the user may see."""
    with acting(as_user) as a:
        table = Table("id", "title", "state", "start", "end", "members")
        for p in service.list_projects(*a.reading, a.now):
            table.add_row(
                str(p.id),
                p.title,
                p.state,
                _day(p.start_date),
                _day(p.end_date),
                str(len(p.members)),
            )
        console.print(table)


def _decide_project(a: Acting, project_id: int, approve: bool, reason: str) -> str:
    service.decide_project(
        *a.writing, project_id=project_id, approve=approve, reason=reason, now=a.now
    )
    return f"project {project_id} {'approved' if approve else 'rejected'}"


@projects_app.command("add-member")
@handle_errors
def add_member(project_id: int, username: str, as_user: As) -> None:
    """Add a researcher to a project (governance)."""
    with acting(as_user) as a:
        service.add_member(a, project_id=project_id, username=username)
        console.print(f"{username} added to project {project_id}")


@projects_app.command("remove-member")
@handle_errors
def remove_member(project_id: int, username: str, as_user: As) -> None:
    """Remove a member; their use of the project's grants stops at once."""
    with acting(as_user) as a:
        service.remove_member(a, project_id=project_id, username=username)
        console.print(f"{username} removed from project {project_id}")


_decision_command(
    projects_app, "approve", "project", _decide_project, "Approve a proposed project (governance)."
)
_decision_command(
    projects_app, "reject", "project", _decide_project, "Reject a proposed project (governance)."
)

# --------------------------------------------------------------------------- requests


@requests_app.command("list")
@handle_errors
def list_requests(
    as_user: As,
    state: Annotated[
        RequestState | None, typer.Option(help="pending, approved or rejected")
    ] = None,
    project: Annotated[int | None, typer.Option(help="Only this project's")] = None,
) -> None:
    """Requests (governance: every project's; researchers: pass --project)."""
    with acting(as_user) as a:
        found = service.list_requests(*a.reading, a.now, project_id=project, state=state)
        table = Table("id", "project", "dataset", "version", "state", "sensitivity", "reviews")
        for r in found:
            table.add_row(
                str(r.id),
                str(r.project_id),
                r.dataset.name,
                str(r.dataset_version or "latest"),
                r.state,
                r.sensitivity,
                str(len(r.reviews)),
            )
        console.print(table)


@requests_app.command("show")
@handle_errors
def show_request(request_id: int, as_user: As) -> None:
    """One request: columns, filter, justification and reviews."""
    with acting(as_user) as a:
        r = service.get_request(*a.reading, request_id=request_id, now=a.now)
        console.print(f"request {r.id} on project {r.project_id}: {r.state}", highlight=False)
        console.print(f"dataset  {r.dataset.name} ({r.dataset_version or 'latest'})")
        console.print(f"columns  {', '.join(json.loads(r.columns))}")
        console.print(f"filter   {r.row_filter or '-'}", highlight=False)
        console.print(f"dates    by {r.date_granularity}")
        console.print(f"why      {r.justification}", highlight=False)
        needed = a.policy.approvers_needed(r.sensitivity)
        console.print(f"reviews  ({r.sensitivity}: {needed} approver(s) needed)")
        for review in r.reviews:
            console.print(f"  {review.decision} by {review.reviewer_id}: {review.reason}")


def _review(
    a: Acting, request_id: int, approve: bool, reason: str, override_reason: str | None = None
) -> str:
    """Review as the API does: an approval takes the disclosure preview first."""
    settings = get_settings()
    engine = a.session.get_bind()
    assert isinstance(engine, Engine)
    previewer = Previewer(a, lambda: open_keystore(settings), engine, settings.release_max_rows)
    choice = service.ReviewChoice(approve, reason, override_reason)
    r = review_with_preview(previewer, request_id=request_id, choice=choice)
    return f"request {r.id}: {r.state}"


@requests_app.command("approve")
@handle_errors
def approve_request(
    as_user: As,
    reason: Reason,
    request_id: Annotated[int, typer.Argument(metavar="REQUEST_ID", help="The request's id")],
    override_reason: Annotated[
        str | None,
        typer.Option(
            help="Why approve although the disclosure preview says the release would be "
            "refused (required then; see GET /requests/{id}/preview)"
        ),
    ] = None,
) -> None:
    """Approve (enough distinct approvals issue the grant); the disclosure preview is
    taken first, and a refused one needs --override-reason."""
    with acting(as_user) as a:
        outcome = _review(a, request_id, True, reason, override_reason)
    console.print(outcome)


_decision_command(requests_app, "reject", "request", _review, "Reject (ends the request).")

# ----------------------------------------------------------------------------- grants


@grants_app.command("list")
@handle_errors
def list_grants(
    as_user: As, project: Annotated[int | None, typer.Option(help="Only this project's")] = None
) -> None:
    """Grants the user may see, with whether each could be used now."""
    with acting(as_user) as a:
        table = Table("id", "project", "request", "dataset", "expires", "revoked", "live")
        for g in grant_service.list_grants(*a.reading, a.now, project_id=project):
            table.add_row(
                str(g.id),
                str(g.project_id),
                str(g.request_id),
                g.dataset.name,
                _day(g.expires_at),
                _day(g.revoked_at),
                "yes" if grant_service.grant_is_live(g, a.now) else "no",
            )
        console.print(table)


@grants_app.command("revoke")
@handle_errors
def revoke_grant(grant_id: int, as_user: As, reason: Reason) -> None:
    """Revoke a grant with immediate effect (governance)."""
    with acting(as_user) as a:
        grant_service.revoke_grant(*a.writing, grant_id=grant_id, reason=reason, now=a.now)
        console.print(f"grant {grant_id} revoked")


# ----------------------------------------------------------------------------- access


@access_app.command("explain")
@handle_errors
def explain(
    username: str,
    action: Action,
    as_user: As,
    project: Annotated[int | None, typer.Option()] = None,
    request: Annotated[int | None, typer.Option()] = None,
    grant: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Why USERNAME may or may not do ACTION (governance)."""
    with acting(as_user) as a:
        query = grant_service.ExplainQuery(username, action, project, request, grant)
        decision = grant_service.explain(*a.writing, query, now=a.now)
        verdict = "ALLOWED" if decision.allowed else "DENIED"
        console.print(f"{verdict} by rule {decision.rule}: {decision.reason}", highlight=False)
