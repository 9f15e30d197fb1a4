"""Property: any single corruption of any chain is detected, and an intact chain verifies."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.audit.chain import GENESIS_HASH, EventFields, canonical_details, event_hash
from fivesafes.audit.verify import Anchor, verify_events

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    seq: int
    occurred_at: datetime
    actor_id: str | None
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    request_id: str | None
    client_addr: str | None
    details: str
    prev_hash: str
    hash: str


short = st.text(min_size=1, max_size=12)
event_spec = st.fixed_dictionaries(
    {
        "actor_id": st.none() | short,
        "actor_role": st.sampled_from([None, "admin", "researcher", "governance", "uploader"]),
        "action": st.sampled_from(["user.create", "token.issue", "data.download", "audit.view"]),
        "target_id": st.none() | short,
        "outcome": st.sampled_from(["success", "denied", "failed"]),
        "details": st.dictionaries(short, st.integers() | short | st.booleans(), max_size=3),
        "offset": st.integers(min_value=0, max_value=10**9),
    }
)


def build(specs: list[dict[str, object]]) -> list[Row]:
    rows, prev = [], GENESIS_HASH
    for i, spec in enumerate(specs, start=1):
        fields = EventFields(
            seq=i,
            occurred_at=T0 + timedelta(microseconds=int(spec["offset"])),  # type: ignore[call-overload]
            actor_id=spec["actor_id"],  # type: ignore[arg-type]
            actor_role=spec["actor_role"],  # type: ignore[arg-type]
            action=str(spec["action"]),
            target_type="thing",
            target_id=spec["target_id"],  # type: ignore[arg-type]
            outcome=str(spec["outcome"]),
            request_id=None,
            client_addr="127.0.0.1",
            details=canonical_details(spec["details"]),  # type: ignore[arg-type]
        )
        digest = event_hash(prev, fields)
        rows.append(Row(**dataclasses.asdict(fields), prev_hash=prev, hash=digest))
        prev = digest
    return rows


def run(rows: list[Row], checkpoint: Anchor | None = None):  # type: ignore[no-untyped-def]
    hashes = {r.hash for r in rows}
    anchors = [checkpoint] if checkpoint is not None else []
    return verify_events(sorted(rows, key=lambda r: r.seq), anchors, hashes.__contains__)


def _Unsigned(*, seq: int, hash: str, **_: str) -> Anchor:
    # Signatures are tested separately (integration); here only the seq and hash matter.
    return Anchor(seq, hash, "checkpoint")


chains = st.lists(event_spec, min_size=2, max_size=25)
EDITABLE = [
    "occurred_at",
    "actor_id",
    "actor_role",
    "action",
    "target_id",
    "outcome",
    "details",
    "prev_hash",
    "hash",
    "client_addr",
]


@settings(max_examples=150, deadline=None)
@given(chains)
def test_intact_chains_verify(specs: list[dict[str, object]]) -> None:
    result = run(build(specs))
    assert result.ok
    assert result.events_verified == len(specs)


@settings(max_examples=300, deadline=None)
@given(chains, st.data())
def test_any_single_corruption_is_detected(
    specs: list[dict[str, object]], data: st.DataObject
) -> None:
    rows = build(specs)
    head = rows[-1]
    checkpoint = _Unsigned(seq=head.seq, hash=head.hash, created_at="", public_key="", signature="")
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "truncate"]))
    index = data.draw(st.integers(0, len(rows) - 1))
    if kind == "edit":
        field = data.draw(st.sampled_from(EDITABLE))
        old = getattr(rows[index], field)
        if field == "occurred_at":
            new: object = old + timedelta(microseconds=data.draw(st.integers(1, 10**6)))
        elif field == "details":
            new = canonical_details({"forged": data.draw(st.integers())})
        elif field in ("prev_hash", "hash"):
            new = data.draw(
                st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda h: h != old)
            )
        else:
            new = data.draw(st.text(min_size=1, max_size=12).filter(lambda v: v != old))
        rows[index] = replace(rows[index], **{field: new})
        expected_seq = index + 1
    elif kind == "delete":
        del rows[index]
        expected_seq = index + 1
    elif kind == "swap":
        other = data.draw(st.integers(0, len(rows) - 1).filter(lambda j: j != index))
        a, b = rows[index], rows[other]
        rows[index], rows[other] = replace(b, seq=a.seq), replace(a, seq=b.seq)
        expected_seq = min(index, other) + 1
    else:
        rows = rows[:index] if index > 0 else []
        expected_seq = index + 1
    result = run(rows, checkpoint)
    assert not result.ok
    assert result.first_bad_seq == expected_seq
