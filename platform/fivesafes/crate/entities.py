"""The contextual entities of a Five Safes crate, one function per record kind.

Each adds its entities to the :class:`~fivesafes.crate.graph.Graph` and returns the ids
the caller links from the root's ``mentions`` (docs/crates.md has the mapping table).
"""

from __future__ import annotations

from typing import Any

import fivesafes
from fivesafes.crate.facts import CrateFacts, GrantFacts, Person, ProjectFacts
from fivesafes.crate.graph import Graph, local_id, ref, refs, when
from fivesafes.crate.terms import COMPLETED, FAILED, PROFILE, SHP

TRE = "#tre"
WORKFLOW = "#release-workflow"
GATE = "#disclosure-gate"
ACCESS_POLICY = "#access-policy"
LAWFUL_BASIS_SET = "https://www.legislation.gov.uk/eur/2016/679/article/6"
SPECIAL_CATEGORY_SET = "https://www.legislation.gov.uk/eur/2016/679/article/9"


def person(graph: Graph, who: Person, project_id: int | None = None) -> str:
    """A Person named by platform username only (no e-mail, no other identifier)."""
    return graph.add(
        local_id("user", who.username),
        "Person",
        name=who.username,
        identifier=f"urn:uuid:{who.user_id}" if who.user_id else None,
        memberOf=ref(local_id("project", project_id)) if project_id is not None else None,
    )


def tre(graph: Graph, facts: CrateFacts) -> str:
    graph.add(TRE, "Organization", name=facts.tre_name)
    return TRE


def workflow(graph: Graph, software: dict[str, Any]) -> str:
    """The root's ``mainEntity``: the platform's fixed release pipeline (there is no
    user-supplied workflow: a release is the grant's approved query run by the platform).

    ``software`` is a release manifest's ``software`` (the versions it was made with)."""
    needs = [
        graph.add(
            local_id("software", name),
            "SoftwareApplication",
            name=name,
            softwareVersion=str(software[name]) if software.get(name) else None,
        )
        for name in ("pyarrow", "sqlalchemy")
    ]
    platform = str(software.get("platform") or f"fivesafes {fivesafes.__version__}")
    return graph.add(
        WORKFLOW,
        ["SoftwareApplication", "ComputationalWorkflow"],
        name="fivesafes release pipeline",
        description="Reads the granted dataset version, applies the grant's columns, row "
        "filter and date granularity, project pseudonyms and date shifts, runs the "
        "disclosure gate, shuffles and streams the rows.",
        softwareVersion=platform.removeprefix("fivesafes "),
        softwareRequirements=refs(needs),
        provider=ref(TRE),
    )


def project(graph: Graph, facts: ProjectFacts) -> str:
    """The safe project (``sourceOrganization``), its ethics approval and agreement."""
    pid = local_id("project", facts.id)
    ethics = graph.add(
        local_id("ethics", facts.id),
        "CreativeWork",
        name=f"Research ethics approval {facts.ethics_ref}",
        identifier=facts.ethics_ref,
    )
    members = [person(graph, m, facts.id) for m in facts.members]
    person(graph, facts.lead, facts.id)
    graph.add(
        pid,
        "Project",
        name=facts.title,
        description=facts.purpose,
        disambiguatingDescription=facts.lay_summary,
        identifier=ref(local_id("project-id", facts.id)),
        ethicsPolicy=ref(ethics),
        foundingDate=when(facts.start_date),
        dissolutionDate=when(facts.end_date),
        member=refs(members),
        founder=ref(local_id("user", facts.lead.username)),
    )
    graph.add(
        local_id("project-id", facts.id),
        "PropertyValue",
        name="fivesafes project id",
        value=str(facts.id),
    )
    return pid


def agreement(graph: Graph, facts: ProjectFacts) -> str:
    """The data sharing agreement: the crate's licence, naming the lawful bases."""
    basis = graph.add(
        local_id("lawful-basis", facts.lawful_basis),
        "DefinedTerm",
        name=f"UK GDPR Article 6 condition {facts.lawful_basis}",
        termCode=facts.lawful_basis,
        inDefinedTermSet=ref(LAWFUL_BASIS_SET),
    )
    special = graph.add(
        local_id("special-category", facts.special_category_condition),
        "DefinedTerm",
        name=f"UK GDPR Article 9 condition {facts.special_category_condition}",
        termCode=facts.special_category_condition,
        inDefinedTermSet=ref(SPECIAL_CATEGORY_SET),
    )
    return graph.add(
        local_id("dsa", facts.id),
        "CreativeWork",
        name=f"Data sharing agreement {facts.dsa_ref}",
        identifier=facts.dsa_ref,
        description="Restricted: the data may be used only by the project's members for "
        "its approved purpose, and every copy destroyed at the project's end.",
        about=ref(local_id("project", facts.id)),
        mentions=refs([basis, special]),
    )


def project_approval(graph: Graph, facts: ProjectFacts) -> list[str]:
    """The governance decision that made the project active, as a sign-off."""
    if facts.decided_by is None or facts.decided_at is None:
        return []
    approved = facts.state not in ("proposed", "rejected")
    return [
        graph.add(
            local_id("project-approval", facts.id),
            "AssessAction",
            additionalType=ref(SHP + "SignOff"),
            name=f"Sign-off of project {facts.id}: {'approved' if approved else facts.state}",
            endTime=when(facts.decided_at),
            object=refs(["./", local_id("project", facts.id)]),
            agent=ref(person(graph, facts.decided_by)),
            actionStatus=COMPLETED if approved else FAILED,
        )
    ]


def grant(graph: Graph, facts: GrantFacts, project_id: int, version_id: str) -> list[str]:
    """The access request, each officer's review (sign-off) and the grant they issued."""
    request_id = local_id("access-request", facts.request_id)
    grant_id = local_id("grant", facts.id)
    policy = graph.add(
        ACCESS_POLICY, "CreativeWork", name="fivesafes access policy (policies/access.yaml)"
    )
    mentioned = [
        graph.add(
            request_id,
            "Action",
            name=f"Access request {facts.request_id}: {facts.request_state}",
            agent=ref(person(graph, facts.requester, project_id)),
            startTime=when(facts.requested_at),
            endTime=when(facts.request_decided_at),
            object=ref(version_id),
            result=ref(grant_id),
            actionStatus=COMPLETED if facts.request_decided_at else None,
        )
    ]
    approvers = []
    for review in facts.reviews:
        officer = person(graph, review.reviewer)
        approved = review.decision == "approve"
        if approved:
            approvers.append(officer)
        note = " (disclosure preview overridden)" if review.override else ""
        mentioned.append(
            graph.add(
                local_id("review", review.id),
                "AssessAction",
                additionalType=ref(SHP + "SignOff"),
                name=f"Sign-off of access request {facts.request_id} by "
                f"{review.reviewer.username}: {'approved' if approved else 'rejected'}{note}",
                endTime=when(review.at),
                object=refs(["./", WORKFLOW, local_id("project", project_id), request_id]),
                instrument=ref(policy),
                agent=ref(officer),
                actionStatus=COMPLETED if approved else FAILED,
            )
        )
    revoked = f"; revoked {when(facts.revoked_at)}" if facts.revoked_at else ""
    mentioned.append(
        graph.add(
            grant_id,
            "AuthorizeAction",
            name=f"Grant {facts.id} issued (expires {when(facts.expires_at)}{revoked})",
            agent=refs(approvers),
            recipient=ref(local_id("project", project_id)),
            object=ref(version_id),
            startTime=when(facts.issued_at),
            endTime=when(facts.issued_at),
            expires=when(facts.expires_at),
            actionStatus=COMPLETED,
        )
    )
    return mentioned


def profile_entity(graph: Graph) -> None:
    graph.add(PROFILE, ["CreativeWork", "Profile"], name="Five Safes RO-Crate profile 0.4")
