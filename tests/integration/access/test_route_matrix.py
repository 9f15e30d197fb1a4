"""The ownership matrix, generated from the app's own routes (issue 13).

Every route the app serves (API and web pages, enumerated from ``app.routes`` when the
tests are collected) is called by every actor (anonymous, uploader, other uploader,
researcher, other researcher, governance, admin) on its own object and on someone else's
(routes naming no owned object: once). The outcome must be what :data:`POLICY`, one table
a governance officer can read, says: the route's success status, or the refusal: 401 for
nobody logged in (a web page: a redirect to the log-in page), 403 for a role that may not
(on the trail as a denial under the route's name), or 404 where a foreign object is hidden
so its id does not leak. A route missing from the table fails its cases: nothing new can
skip the matrix.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from fivesafes.app import create_app
from fivesafes.config import load_settings
from fivesafes.httpkit import csrf
from fivesafes.identity.models import Role
from fivesafes.web.rendering import WebRoute
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.factories.extracts import ADMISSION_COLUMNS
from tests.integration.access.helpers import project_body
from tests.integration.access.route_world import (
    ACTORS,
    HANDED_OVER,
    PASSWORD,
    RELEASED,
    World,
    build,
    side_of,
)
from tests.integration.closeout.matrix_targets import target_entries as closeout_targets

# A generated sweep: in `make test`, not in the `make test-fast` inner loop.
pytestmark = pytest.mark.slow

A, U, R, G, D = "anonymous", "uploader", "researcher", "governance", "admin"
EVERYONE = frozenset({A, U, R, G, D})
SIGNED_IN = frozenset({U, R, G, D})


@dataclass(frozen=True)
class Rule:
    """Who may call a route: ``anyone`` on any object, ``own`` on their own only.

    ``foreign`` is what a role allowed on its own objects gets on someone else's: 403,
    or 404 where even the object's existence is not theirs to know.
    """

    anyone: frozenset[str] = frozenset()
    own: frozenset[str] = frozenset()
    foreign: int = 403


def may(*roles: str, own: tuple[str, ...] = (), foreign: int = 403) -> Rule:
    return Rule(frozenset(roles), frozenset(own), foreign)


PUBLIC = Rule(EVERYONE)
ANY_USER = Rule(SIGNED_IN)

#: route ("METHOD /path") -> who may. The single declaration the matrix is checked against.
POLICY: dict[str, Rule] = {
    # documentation and health: public
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/static": PUBLIC,
    "GET /healthz": PUBLIC,
    # identity
    "GET /auth/providers": PUBLIC,
    "GET /me": ANY_USER,
    "GET /users": may(D),
    "POST /users": may(D),
    "POST /users/{username}/disable": may(D),
    "POST /users/{username}/role": may(D),
    "GET /tokens": ANY_USER,
    "POST /tokens": ANY_USER,
    "DELETE /tokens/{token_id}": may(own=(U, R, G, D), foreign=404),
    # audit
    "GET /audit/events": may(G),
    "GET /audit/events.csv": may(G),
    "GET /audit/verify": may(G),
    "POST /audit/checkpoints": may(G),
    # projects, requests, grants
    "POST /projects": may(G),
    "POST /projects/proposals": may(R),
    "GET /projects": may(G, R),
    "GET /projects/{project_id}": may(G, own=(R,)),
    "POST /projects/{project_id}/approve": may(G),
    "POST /projects/{project_id}/reject": may(G),
    "POST /projects/{project_id}/members": may(G),
    "DELETE /projects/{project_id}/members/{username}": may(G),
    "POST /projects/{project_id}/requests": may(own=(R,)),
    "GET /projects/{project_id}/requests": may(G, own=(R,)),
    "GET /requests": may(G),
    "GET /requests/{request_id}": may(G, own=(R,)),
    "GET /requests/{request_id}/preview": may(G, own=(R,)),
    "POST /projects/{project_id}/requests/preview": may(own=(R,)),
    "POST /requests/{request_id}/approve": may(G),
    "POST /requests/{request_id}/reject": may(G),
    "GET /grants": may(G, R),
    "GET /grants/{grant_id}": may(G, own=(R,)),
    "POST /grants/{grant_id}/revoke": may(G),
    "GET /grants/{grant_id}/check": may(own=(R,)),
    "GET /access/explain": may(G),
    # datasets and uploads
    "GET /datasets": ANY_USER,
    "GET /datasets/{name}": ANY_USER,
    "POST /datasets/{name}/uploads": may(U),
    "POST /datasets/{name}/handovers": may(U),
    "GET /uploads": may(U, G),
    "GET /uploads/{upload_id}": may(G, own=(U,), foreign=404),
    # releases
    "GET /grants/{grant_id}/data": may(own=(R,)),
    "GET /grants/{grant_id}/releases": may(G, own=(R,)),
    "GET /releases/{release_id}/manifest": may(G, own=(R,)),
    # RO-Crate packages (docs/crates.md): a release's holds its data, so only its project's
    # researchers (a live grant); a project's holds records only
    "GET /releases/{release_id}/crate": may(own=(R,), foreign=404),
    "GET /projects/{project_id}/crate": may(G, own=(R,)),
    "GET /grants/{grant_id}/columns": may(G, own=(R,)),
    # governance review of dataset versions
    "GET /reviews": may(G),
    "GET /datasets/{name}/versions/{number}/review": may(G),
    "POST /datasets/{name}/versions/{number}/review": may(G),
    # withdrawal: governance, or the version's uploader before any release (each uploader
    # acts on a fresh version of their own; other uploaders' are refused in test_withdrawal)
    "POST /datasets/{name}/versions/{number}/withdraw": may(G, U),
    # the modification log: governance, or the version's uploader (each uploader reads a
    # version of their own; another uploader's is refused in tests/integration/ingestion)
    "GET /datasets/{name}/versions/{number}/modifications": may(G, U),
    # the register of data held (SATRE 3.1.08)
    "GET /register": may(G),
    # governed re-identification: researchers ask, governance decides; only a reidentifier
    # (no actor here: the full path is tests/integration/reidentification) executes
    "POST /reidentification-requests": may(own=(R,)),
    "GET /reidentification-requests": may(G, R),
    "GET /reidentification-requests/{reidentification_id}": may(G, own=(R,)),
    "POST /reidentification-requests/{reidentification_id}/approve": may(G),
    "POST /reidentification-requests/{reidentification_id}/reject": may(G),
    "POST /reidentification-requests/{reidentification_id}/execute": may(),
    "POST /reidentification-requests/{reidentification_id}/action": may(),
    "GET /web/reidentification": may(),
    "POST /web/reidentification/{reidentification_id}/execute": may(),
    "POST /web/reidentification/{reidentification_id}/action": may(),
    # web pages
    "GET /": PUBLIC,
    "GET /web/login": PUBLIC,
    "POST /web/login": PUBLIC,
    "POST /web/login/token": PUBLIC,
    # sign-in with an identity provider: the matrix's world configures none (404)
    "GET /web/login/oidc/{name}": PUBLIC,
    "GET /web/login/oidc/{name}/callback": PUBLIC,
    "POST /web/logout": ANY_USER,
    "GET /web/": ANY_USER,
    "GET /web/admin": ANY_USER,  # static help text: how admins work from the shell
    "GET /web/upload": may(U),
    "GET /web/uploads/{upload_id}": may(G, own=(U,), foreign=404),
    "GET /web/uploads/{upload_id}/state": may(G, own=(U,), foreign=404),
    "GET /web/research": may(R),
    "GET /web/research/projects/{project_id}/request": may(own=(R,)),
    "POST /web/research/projects/{project_id}/request": may(own=(R,)),
    "GET /web/research/grants/{grant_id}": may(own=(R,)),
    "GET /web/research/grants/{grant_id}/download": may(own=(R,)),
    "GET /web/research/releases/{release_id}": may(own=(R,)),
    "GET /web/research/releases/{release_id}/manifest.json": may(own=(R,)),
    "GET /web/governance/queue": may(G),
    "GET /web/governance/versions/{name}/{number}/review": may(G),
    "POST /web/governance/versions/{name}/{number}/decision": may(G),
    "POST /web/governance/versions/{name}/{number}/withdraw": may(G),
    "GET /web/governance/datasets/{name}/versions": may(G),
    "GET /web/governance/datasets/{name}/versions/{number}": may(G),
    "POST /web/governance/datasets/{name}/versions/{number}/withdraw": may(G),
    "POST /web/uploads/{upload_id}/withdraw": may(G, own=(U,), foreign=404),
    "POST /web/governance/requests/{request_id}/review": may(G),
    "GET /web/governance/access": may(G),
    "GET /web/governance/register": may(G),
    "GET /web/governance/audit": may(G),
    "GET /web/governance/integrity": may(G),
    "POST /web/governance/checkpoints": may(G),
    "GET /web/governance/policies": may(G),
    "GET /web/governance/datasets/{name}/policies": may(G),
    "GET /web/governance/datasets/{name}/policies/diff": may(G),
    "GET /web/governance/datasets/{name}/policies/{version}": may(G),
    "GET /web/research/projects/new": may(R),
    "POST /web/research/projects": may(R),
    "GET /web/projects/{project_id}": may(G, own=(R,)),
    "GET /web/governance/projects": may(G),
    "POST /web/governance/projects/{project_id}/approve": may(G),
    "POST /web/governance/projects/{project_id}/reject": may(G),
    "POST /web/governance/projects/{project_id}/members": may(G),
    "POST /web/governance/projects/{project_id}/members/{username}/remove": may(G),
    "POST /web/governance/grants/{grant_id}/revoke": may(G),
    "GET /web/static": PUBLIC,
    # project close-out (docs/closeout.md): the lead closes early and attests destruction;
    # governance closes, lists and reviews attestations
    "POST /projects/{project_id}/close": may(G, own=(R,)),
    "GET /projects/{project_id}/closeout": may(G, own=(R,)),
    "POST /projects/{project_id}/attestations": may(own=(R,)),
    "GET /attestations": may(G),
    "POST /attestations/{attestation_id}/accept": may(G),
    "POST /attestations/{attestation_id}/reject": may(G),
    "POST /web/projects/{project_id}/close": may(G, own=(R,)),
    "POST /web/projects/{project_id}/attestations": may(own=(R,)),
    "GET /web/governance/closeout": may(G),
    "POST /web/governance/attestations/{attestation_id}/review": may(G),
}


#: Lists of owned things: route -> (the kind of each row, roles that see only their own).
#: Every other role allowed the route sees both sides' rows.
LISTS: dict[str, tuple[str, frozenset[str]]] = {
    "GET /uploads": ("upload", frozenset({U})),
    "GET /projects": ("project", frozenset({R})),
    "GET /grants": ("grant", frozenset({R})),
    "GET /web/upload": ("upload", frozenset({U})),  # the page's recent uploads
}


# --- the app's routes --------------------------------------------------------------------


@dataclass(frozen=True)
class AppRoute:
    key: str  # "METHOD /path"
    method: str
    path: str
    name: str
    web: bool  # a page (cookie session, HTML errors) rather than the JSON API
    scoped: bool  # names an object someone owns
    status: int | None  # the success status an API route declares (None: 200)


#: Path parameters that name an object someone owns (datasets, versions and user names
#: belong to nobody in particular; a user's own account is not a case of its own).
OWNED_PARAMS = frozenset(
    {
        "upload_id",
        "project_id",
        "request_id",
        "grant_id",
        "release_id",
        "token_id",
        "reidentification_id",
        "attestation_id",
    }
)


def app_routes() -> list[AppRoute]:
    """Every (method, path) the app serves, read from the app itself (HEAD is GET's twin)."""
    app = create_app(load_settings(database_url="sqlite://", keystore_path=Path("unused")))
    found = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        path = route.path or ""
        methods = sorted((route.methods or {"GET"}) - {"HEAD"})
        if isinstance(original, Mount):
            methods = ["GET"]
        params = set(getattr(route, "param_convertors", {}) or {})
        for method in methods:
            found.append(
                AppRoute(
                    key=f"{method} {path}",
                    method=method,
                    path=path,
                    name=str(route.name),
                    web=isinstance(original, (WebRoute, Mount)),
                    scoped=bool(params & OWNED_PARAMS),
                    status=getattr(route, "status_code", None),
                )
            )
    return found


ROUTES = app_routes()


# --- building each request ---------------------------------------------------------------


@dataclass
class Call:
    path: str
    json: Any = None
    data: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] | None = None  # instead of the actor's own credentials
    status: int | None = None  # success status when not the route's default
    location: str | None = None  # where a successful redirect must go (prefix)


@dataclass
class Case:
    """What a target builder knows: who acts, on whose side, and whether they may."""

    world: World
    actor: str
    side: str  # the side acted on ("own" is the actor's side)
    allowed: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def s(self) -> Any:
        return self.world.sides[self.side]


Target = Callable[[Case], Call]
REASON = {"reason": "Checked against the protocol."}
WEB_REASON = {"decision": "reject", "reason": "Not within the approved protocol."}


def fixed(path: str, **kw: Any) -> Target:
    return lambda case: Call(path, **kw)


def _token_owner(case: Case) -> str:
    own = case.actor if case.actor != A else "bystander"
    return own if case.side == side_of(case.actor, "own") else "bystander"


def _version(case: Case) -> int:
    """A fresh version for a decision that will be made; the shared one otherwise."""
    return case.world.fresh_version() if case.allowed else case.world.review_version


WITHDRAWAL = {"reason": "Wrong extract sent."}


def _withdrawn(case: Case) -> int:
    """A fresh version (the actor's own upload) for a withdrawal that will happen."""
    return case.world.fresh_version_by(case.actor) if case.allowed else case.world.review_version


def _own_version(case: Case) -> int:
    """An uploader's own notes version (a fresh one: the shared one is "uploader"'s);
    the shared version for everyone else."""
    if case.allowed and ACTORS.get(case.actor) == Role.UPLOADER:
        return case.world.fresh_version_by(case.actor)
    return case.world.review_version


def _withdrawn_upload(case: Case) -> uuid.UUID:
    if not case.allowed:
        return case.s.upload
    return case.world.fresh_versioned_upload(case.side)


def _web_withdraw(
    case: Case, page: str = "/web/governance/versions/notes/{}", back: str = "/review"
) -> Call:
    """A governance withdraw form (the review page's, or the version page's)."""
    number = _withdrawn(case)
    path = page.format(number)
    return Call(
        f"{path}/withdraw", data=WITHDRAWAL, location=f"{path}{back}?notice=version_withdrawn"
    )


def _login_form(case: Case, **fields: str) -> Call:
    token = "matrix-login-csrf-token"
    return Call(
        "/web/login" + ("/token" if "token" in fields else ""),
        data={csrf.FIELD: token, **fields},
        headers={"Cookie": f"{csrf.LOGIN_COOKIE}={token}"},
        status=303,
        location="/web/research",  # the bystander is a researcher
    )


def _logout(case: Case) -> Call:
    # A second session of the actor's own: logging out must not end the main one.
    headers = case.world.fresh_session(case.actor) if case.actor != A else {}
    return Call("/web/logout", headers=headers, location="/web/login?notice=logged_out")


def _upload(case: Case) -> Call:
    n = case.world.unique()
    # The policy's own header (a wrong one is refused at once, 422, before the body is read).
    header = ",".join(ADMISSION_COLUMNS)
    body = f"{header}\n943476591{n % 10},,,,F\n# matrix {n}\n".encode()
    return Call(
        f"/datasets/{RELEASED}/uploads", files={"file": (f"matrix-{n}.csv", body, "text/csv")}
    )


TARGETS: dict[str, Target] = {
    "GET /releases/{release_id}/crate": lambda c: Call(f"/releases/{c.s.release}/crate"),
    "GET /projects/{project_id}/crate": lambda c: Call(f"/projects/{c.s.project}/crate"),
    "GET /datasets/{name}/versions/{number}/modifications": lambda c: Call(
        f"/datasets/notes/versions/{_own_version(c)}/modifications"
    ),
    "GET /register": fixed("/register?format=csv"),
    "GET /web/governance/register": fixed("/web/governance/register"),
    "GET /openapi.json": fixed("/openapi.json"),
    "GET /docs": fixed("/docs"),
    "GET /docs/static": fixed("/docs/static/docs.js"),
    "GET /healthz": fixed("/healthz"),
    "GET /auth/providers": fixed("/auth/providers"),
    "GET /me": fixed("/me"),
    "GET /users": fixed("/users"),
    "POST /users": lambda c: Call(
        "/users", json={"username": f"new-{c.world.unique()}", "role": "researcher"}
    ),
    "POST /users/{username}/disable": lambda c: Call(f"/users/{c.world.fresh_user()}/disable"),
    "POST /users/{username}/role": lambda c: Call(
        f"/users/{c.world.fresh_user()}/role", json={"role": "uploader"}
    ),
    "GET /tokens": fixed("/tokens"),
    "POST /tokens": fixed("/tokens", json={"name": "matrix", "lifetime_days": 1}),
    "DELETE /tokens/{token_id}": lambda c: Call(f"/tokens/{c.world.fresh_token(_token_owner(c))}"),
    "GET /audit/events": fixed("/audit/events"),
    "GET /audit/events.csv": fixed("/audit/events.csv"),
    "GET /audit/verify": fixed("/audit/verify"),
    "POST /audit/checkpoints": fixed("/audit/checkpoints"),
    "POST /projects": lambda c: Call(
        "/projects", json=_project_json(c, lead=c.world.people["researcher"].user.username)
    ),
    "POST /projects/proposals": lambda c: Call("/projects/proposals", json=_project_json(c)),
    "GET /projects": fixed("/projects"),
    "GET /projects/{project_id}": lambda c: Call(f"/projects/{c.s.project}"),
    "POST /projects/{project_id}/approve": lambda c: Call(
        f"/projects/{c.world.fresh_proposal(c.side)}/approve", json=REASON
    ),
    "POST /projects/{project_id}/reject": lambda c: Call(
        f"/projects/{c.world.fresh_proposal(c.side)}/reject", json=REASON
    ),
    "POST /projects/{project_id}/members": lambda c: Call(
        f"/projects/{c.world.fresh_project(c.side)}/members",
        json={"username": c.world.people["extra"].user.username},
    ),
    "DELETE /projects/{project_id}/members/{username}": lambda c: Call(
        f"/projects/{c.world.fresh_project(c.side, with_colleague=True)}/members/"
        f"{c.world.people['colleague'].user.username}"
    ),
    "POST /projects/{project_id}/requests": lambda c: Call(
        f"/projects/{c.s.project}/requests", json=c.world.request_json()
    ),
    "GET /projects/{project_id}/requests": lambda c: Call(f"/projects/{c.s.project}/requests"),
    "GET /requests": fixed("/requests"),
    "GET /requests/{request_id}": lambda c: Call(f"/requests/{c.s.request}"),
    "GET /requests/{request_id}/preview": lambda c: Call(f"/requests/{c.s.request}/preview"),
    "POST /projects/{project_id}/requests/preview": lambda c: Call(
        f"/projects/{c.s.project}/requests/preview", json=c.world.request_json()
    ),
    "POST /requests/{request_id}/approve": lambda c: Call(
        f"/requests/{c.world.fresh_request(c.side)}/approve", json=REASON
    ),
    "POST /requests/{request_id}/reject": lambda c: Call(
        f"/requests/{c.world.fresh_request(c.side)}/reject", json=REASON
    ),
    "GET /grants": fixed("/grants"),
    "GET /grants/{grant_id}": lambda c: Call(f"/grants/{c.s.grant}"),
    "POST /grants/{grant_id}/revoke": lambda c: Call(
        f"/grants/{c.world.fresh_grant(c.side)}/revoke", json=REASON
    ),
    "GET /grants/{grant_id}/check": lambda c: Call(f"/grants/{c.s.grant}/check"),
    "GET /access/explain": lambda c: Call(
        f"/access/explain?user={c.world.people['researcher'].user.username}"
        f"&action=grant.use&grant={c.world.sides['a'].grant}"
    ),
    "GET /datasets": fixed("/datasets"),
    "GET /datasets/{name}": fixed(f"/datasets/{RELEASED}"),
    "POST /datasets/{name}/uploads": _upload,
    "POST /datasets/{name}/handovers": lambda c: Call(
        f"/datasets/{HANDED_OVER}/handovers",
        json={"path": c.world.fresh_handover() if c.allowed else "job-none"},
        status=201,
    ),
    "GET /uploads": fixed("/uploads"),
    "GET /uploads/{upload_id}": lambda c: Call(f"/uploads/{c.s.upload}"),
    "GET /grants/{grant_id}/data": lambda c: Call(f"/grants/{c.s.grant}/data"),
    "GET /grants/{grant_id}/releases": lambda c: Call(f"/grants/{c.s.grant}/releases"),
    "GET /releases/{release_id}/manifest": lambda c: Call(f"/releases/{c.s.release}/manifest"),
    "GET /grants/{grant_id}/columns": lambda c: Call(f"/grants/{c.s.grant}/columns"),
    "GET /reviews": fixed("/reviews"),
    "GET /datasets/{name}/versions/{number}/review": lambda c: Call(
        f"/datasets/notes/versions/{c.world.review_version}/review"
    ),
    "POST /datasets/{name}/versions/{number}/review": lambda c: Call(
        f"/datasets/notes/versions/{_version(c)}/review",
        json={"decision": "reject", "reason": "Names left in the notes."},
    ),
    "POST /datasets/{name}/versions/{number}/withdraw": lambda c: Call(
        f"/datasets/notes/versions/{_withdrawn(c)}/withdraw", json=WITHDRAWAL
    ),
    "POST /web/governance/versions/{name}/{number}/withdraw": _web_withdraw,
    "GET /web/governance/datasets/{name}/versions": fixed(
        "/web/governance/datasets/notes/versions"
    ),
    "GET /web/governance/datasets/{name}/versions/{number}": lambda c: Call(
        f"/web/governance/datasets/notes/versions/{c.world.review_version}"
    ),
    "POST /web/governance/datasets/{name}/versions/{number}/withdraw": lambda c: _web_withdraw(
        c, "/web/governance/datasets/notes/versions/{}", ""
    ),
    "POST /web/uploads/{upload_id}/withdraw": lambda c: Call(
        f"/web/uploads/{_withdrawn_upload(c)}/withdraw",
        data=WITHDRAWAL,
        location="/web/uploads/",
    ),
    "POST /reidentification-requests": lambda c: Call(
        "/reidentification-requests", json=c.world.reid_json(c.side), status=201
    ),
    "GET /reidentification-requests": fixed("/reidentification-requests"),
    "GET /reidentification-requests/{reidentification_id}": lambda c: Call(
        f"/reidentification-requests/{c.s.reid_request}"
    ),
    "POST /reidentification-requests/{reidentification_id}/approve": lambda c: Call(
        f"/reidentification-requests/{c.world.fresh_reid_request(c.side)}/approve", json=REASON
    ),
    "POST /reidentification-requests/{reidentification_id}/reject": lambda c: Call(
        f"/reidentification-requests/{c.world.fresh_reid_request(c.side)}/reject", json=REASON
    ),
    "POST /reidentification-requests/{reidentification_id}/execute": lambda c: Call(
        f"/reidentification-requests/{c.s.reid_request}/execute"
    ),
    "POST /reidentification-requests/{reidentification_id}/action": lambda c: Call(
        f"/reidentification-requests/{c.s.reid_request}/action",
        json={"action_taken": "Told the patient's GP."},
    ),
    "GET /web/reidentification": fixed("/web/reidentification"),
    "POST /web/reidentification/{reidentification_id}/execute": lambda c: Call(
        f"/web/reidentification/{c.s.reid_request}/execute"
    ),
    "POST /web/reidentification/{reidentification_id}/action": lambda c: Call(
        f"/web/reidentification/{c.s.reid_request}/action",
        data={"action_taken": "Told the patient's GP."},
    ),
    "GET /": fixed("/", status=303, location="/web/"),
    "GET /web/login": fixed("/web/login"),
    "POST /web/login": lambda c: _login_form(
        c, username=c.world.people["bystander"].user.username, password=PASSWORD
    ),
    "POST /web/login/token": lambda c: _login_form(c, token=c.world.people["bystander"].token),
    "GET /web/login/oidc/{name}": fixed("/web/login/oidc/none", status=404),
    "GET /web/login/oidc/{name}/callback": fixed("/web/login/oidc/none/callback", status=404),
    "POST /web/logout": _logout,
    "GET /web/": fixed("/web/", status=303),
    "GET /web/admin": fixed("/web/admin"),
    "GET /web/upload": fixed("/web/upload"),
    "GET /web/uploads/{upload_id}": lambda c: Call(f"/web/uploads/{c.s.upload}"),
    "GET /web/uploads/{upload_id}/state": lambda c: Call(f"/web/uploads/{c.s.upload}/state"),
    "GET /web/research": fixed("/web/research"),
    "GET /web/research/projects/{project_id}/request": lambda c: Call(
        f"/web/research/projects/{c.s.project}/request"
    ),
    "POST /web/research/projects/{project_id}/request": lambda c: Call(
        f"/web/research/projects/{c.s.project}/request",
        data={
            "dataset": RELEASED,
            "columns": ["sex", "length_of_stay"],
            "justification": "Needed for the approved analysis plan.",
        },
        location="/web/research?notice=request_sent",
    ),
    "GET /web/research/grants/{grant_id}": lambda c: Call(f"/web/research/grants/{c.s.grant}"),
    "GET /web/research/grants/{grant_id}/download": lambda c: Call(
        f"/web/research/grants/{c.s.grant}/download?format=csv"
    ),
    "GET /web/research/releases/{release_id}": lambda c: Call(
        f"/web/research/releases/{c.s.release}"
    ),
    "GET /web/research/releases/{release_id}/manifest.json": lambda c: Call(
        f"/web/research/releases/{c.s.release}/manifest.json"
    ),
    "GET /web/governance/queue": fixed("/web/governance/queue"),
    "GET /web/governance/versions/{name}/{number}/review": lambda c: Call(
        f"/web/governance/versions/notes/{c.world.review_version}/review"
    ),
    "POST /web/governance/versions/{name}/{number}/decision": lambda c: Call(
        f"/web/governance/versions/notes/{_version(c)}/decision",
        data=WEB_REASON,
        location="/web/governance/queue?notice=version_rejected",
    ),
    "POST /web/governance/requests/{request_id}/review": lambda c: Call(
        f"/web/governance/requests/{c.world.fresh_request(c.side)}/review",
        data=WEB_REASON,
        location="/web/governance/queue?notice=rejected",
    ),
    "GET /web/governance/access": fixed("/web/governance/access"),
    "GET /web/governance/audit": fixed("/web/governance/audit"),
    "GET /web/governance/integrity": fixed("/web/governance/integrity"),
    "POST /web/governance/checkpoints": fixed(
        "/web/governance/checkpoints", location="/web/governance/integrity?notice=checkpoint"
    ),
    "GET /web/governance/policies": fixed("/web/governance/policies"),
    "GET /web/governance/datasets/{name}/policies": fixed(
        f"/web/governance/datasets/{RELEASED}/policies"
    ),
    "GET /web/governance/datasets/{name}/policies/diff": fixed(
        f"/web/governance/datasets/{RELEASED}/policies/diff?from=1&to=1"
    ),
    "GET /web/governance/datasets/{name}/policies/{version}": fixed(
        f"/web/governance/datasets/{RELEASED}/policies/1"
    ),
    "GET /web/research/projects/new": fixed("/web/research/projects/new"),
    "POST /web/research/projects": lambda c: Call(
        "/web/research/projects", data=_project_form(), location="/web/projects/"
    ),
    "GET /web/projects/{project_id}": lambda c: Call(f"/web/projects/{c.s.project}"),
    "GET /web/governance/projects": fixed("/web/governance/projects"),
    "POST /web/governance/projects/{project_id}/approve": lambda c: Call(
        f"/web/governance/projects/{c.world.fresh_proposal(c.side)}/approve",
        data=REASON,
        location="/web/governance/projects?notice=project_approved",
    ),
    "POST /web/governance/projects/{project_id}/reject": lambda c: Call(
        f"/web/governance/projects/{c.world.fresh_proposal(c.side)}/reject",
        data=REASON,
        location="/web/governance/projects?notice=project_rejected",
    ),
    "POST /web/governance/projects/{project_id}/members": lambda c: Call(
        f"/web/governance/projects/{c.world.fresh_project(c.side)}/members",
        data={"username": c.world.people["extra"].user.username},
        location="/web/projects/",
    ),
    "POST /web/governance/projects/{project_id}/members/{username}/remove": lambda c: Call(
        f"/web/governance/projects/{c.world.fresh_project(c.side, with_colleague=True)}/members/"
        f"{c.world.people['colleague'].user.username}/remove",
        location="/web/projects/",
    ),
    "POST /web/governance/grants/{grant_id}/revoke": lambda c: Call(
        f"/web/governance/grants/{c.world.fresh_grant(c.side)}/revoke",
        data=REASON,
        location="/web/projects/",
    ),
    "GET /web/static": fixed("/web/static/upload.js"),
}
TARGETS.update(closeout_targets(Call))


def _project_form() -> dict[str, str]:
    """The proposal form's fields (the proposer leads: no lead field)."""
    body = project_body(None).model_dump(mode="json", exclude={"lead", "members"})
    return {k: str(v) for k, v in body.items()}


def _project_json(case: Case, lead: str | None = None) -> Any:
    body = project_body(None).model_dump(mode="json")
    body["lead"] = lead
    return body


# --- the cases -----------------------------------------------------------------------------


def role_of(actor: str) -> str:
    role = ACTORS[actor]
    return A if role is None else role.value


def decide(rule: Rule, actor: str, relation: str) -> str | int:
    """ "allow", or the status of the refusal, for ``actor`` acting on ``relation``."""
    role = role_of(actor)
    if role in rule.anyone or (role in rule.own and relation in ("own", "-")):
        return "allow"
    if role == A:
        return 401
    if role in rule.own:
        return rule.foreign
    return 403


def _cases() -> Iterator[Any]:
    for route in ROUTES:
        relations = ("own", "other") if route.scoped else ("-",)
        for actor in ACTORS:
            for relation in relations:
                yield pytest.param(route, actor, relation, id=f"{route.key}|{actor}|{relation}")


CASES = list(_cases())


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One world per dialect for the whole matrix (each case makes what it consumes)."""
    folder = tmp_path_factory.mktemp("route-matrix")
    if request.param == "sqlite":
        yield from build(folder, f"sqlite:///{folder / 'routes.db'}")
        return
    name, url = _create_pg_database()
    try:
        yield from build(folder, url)
    finally:
        _drop_pg_database(name)


def test_every_route_of_the_app_is_in_the_policy_table() -> None:
    served = {r.key for r in ROUTES}
    assert served - set(POLICY) == set(), "routes the policy table does not declare"
    assert set(POLICY) - served == set(), "declared routes the app does not serve"
    assert set(TARGETS) == set(POLICY)


def test_the_matrix_covers_every_actor_on_every_route() -> None:
    assert {c.values[1] for c in CASES} == set(ACTORS)
    assert {c.values[0].key for c in CASES} == set(POLICY)
    assert len(CASES) == sum(len(ACTORS) * (2 if r.scoped else 1) for r in ROUTES)


def _is_login_redirect(response: httpx.Response) -> bool:
    location = str(response.headers.get("location", ""))
    return response.status_code == 303 and location.startswith("/web/login?next=")


@pytest.mark.parametrize(("route", "actor", "relation"), CASES)
def test_route_matrix(world: World, route: Any, actor: str, relation: str) -> None:
    rule = POLICY.get(route.key)
    assert rule is not None, f"{route.key} is served but not declared in POLICY"
    outcome = decide(rule, actor, relation)
    side = side_of(actor, "own" if relation == "-" else relation)
    call = TARGETS[route.key](Case(world, actor, side, outcome == "allow"))
    if call.headers is not None:
        headers = call.headers
    elif actor == A:
        headers = {}
    else:
        person = world.people[actor]
        headers = person.browser() if route.web else person.bearer()
    before = world.last_seq()
    world.client.cookies.clear()  # only the credentials chosen here: no cookie from a case before
    response = world.client.request(
        route.method,
        call.path,
        json=call.json,
        data=call.data,
        files=call.files,
        headers=headers,
        follow_redirects=False,
    )
    where = f"{route.key} as {actor} on {relation}: {response.status_code} {response.text[:300]}"
    if outcome == "allow":
        default = 303 if route.web and route.method == "POST" else 200
        wanted = call.status or (None if route.web else route.status) or default
        assert response.status_code == wanted, where
        assert not _is_login_redirect(response), where
        if call.location is not None:
            assert response.headers["location"].startswith(call.location), where
        if route.key in LISTS:
            _check_list(world, route, actor, response)
        return
    if outcome == 401:
        if route.web:
            assert _is_login_redirect(response), where
        else:
            assert response.status_code == 401, where
        return
    assert response.status_code == outcome, where
    if outcome == 403:
        assert route.name in world.denials_since(before, actor), f"not audited: {where}"


def _check_list(world: World, route: AppRoute, actor: str, response: httpx.Response) -> None:
    """A list holds the actor's own side and, unless only their own is theirs, the other."""
    kind, own_only = LISTS[route.key]
    own_side = side_of(actor, "own")
    own, other = (
        str(getattr(world.sides[side], kind)) for side in (own_side, side_of(actor, "other"))
    )
    if route.web:  # a page: ids are UUIDs, so a text search is exact
        listed = {i for i in (own, other) if i in response.text}
    else:
        listed = {str(row["id"]) for row in response.json()}
    assert own in listed, f"{route.key} as {actor}: its own {kind} is missing"
    if role_of(actor) in own_only:
        assert other not in listed, f"{route.key} as {actor} lists someone else's {kind}"
    else:
        assert other in listed, f"{route.key} as {actor}: the other side's {kind} is missing"
