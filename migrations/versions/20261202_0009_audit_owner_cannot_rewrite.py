"""Audit the owner cannot rewrite: sequence and hash computed in the database (issue 13).

PostgreSQL: a BEFORE INSERT trigger on ``audit_events`` takes the chain's advisory lock,
reads the true head and *sets* ``seq`` (head + 1), ``prev_hash`` (the head's hash),
``occurred_at`` (the database clock) and ``hash`` (SHA-256 over the previous hash and the
RFC 8785 canonical JSON of the event, built in SQL exactly as ``fivesafes.audit.chain``
builds it in Python). An INSERT leaves those to the database (0 and '') or gives exactly
the computed values; one claiming another seq, link or hash is refused, so the row
stored always chains from the true head. ``details`` must already be canonical JSON
(checked in SQL), so Python and SQL hash the same bytes. A trigger was chosen over an insert function the app role may only
call: it also covers COPY and hand-written INSERTs, keeps the application's plain INSERT,
and needs no grant gymnastics; only the owner can disable it, which the published
signed checkpoints detect.

SQLite (the embedded demo) has no SHA-256 in SQL: a BEFORE INSERT trigger refuses a row
whose ``seq`` is not head + 1 or whose ``prev_hash`` is not the head's hash; a wrong hash
is found by verification ("edited"). The database file's owner can drop triggers.

Version tables (``dsv_*``) move to their own PostgreSQL schema ``fivesafes_versions``, so
the application role can be given CREATE there and nowhere else (docs/audit.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSION_SCHEMA = "fivesafes_versions"
# fivesafes.audit.recorder.ADVISORY_LOCK_KEY (copied: migrations stay standalone).
ADVISORY_LOCK_KEY = 0x5AFE_A0D1

_CANONICAL = """
CREATE FUNCTION fivesafes_audit_canonical(v jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, public AS $$
-- RFC 8785 canonical JSON of v, or NULL where SQL cannot match it exactly (a number
-- with a fraction or beyond 2**53, formatted by ECMAScript rules).
DECLARE
    kind text := jsonb_typeof(v);
    n numeric;
    parts text[];
BEGIN
    IF kind = 'object' THEN
        SELECT array_agg(to_json(key)::text || ':' || fivesafes_audit_canonical(value)
                         ORDER BY key COLLATE "C")
          INTO parts FROM jsonb_each(v);
        IF parts IS NULL THEN RETURN '{}'; END IF;
        IF array_position(parts, NULL) IS NOT NULL THEN RETURN NULL; END IF;
        RETURN '{' || array_to_string(parts, ',') || '}';
    ELSIF kind = 'array' THEN
        SELECT array_agg(fivesafes_audit_canonical(e) ORDER BY i)
          INTO parts FROM jsonb_array_elements(v) WITH ORDINALITY AS a(e, i);
        IF parts IS NULL THEN RETURN '[]'; END IF;
        IF array_position(parts, NULL) IS NOT NULL THEN RETURN NULL; END IF;
        RETURN '[' || array_to_string(parts, ',') || ']';
    ELSIF kind = 'string' THEN
        RETURN to_json(v #>> '{}')::text;
    ELSIF kind = 'number' THEN
        n := (v #>> '{}')::numeric;
        IF n = trunc(n) AND abs(n) <= 9007199254740991 THEN
            RETURN trunc(n)::text;
        END IF;
        RETURN NULL;
    END IF;
    RETURN v::text;  -- true, false, null
END
$$
"""

_CHAIN = """
CREATE FUNCTION fivesafes_audit_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
-- The row stored always chains from the true head, whatever the INSERT said.
DECLARE
    head_seq bigint;
    head_hash text;
    canonical text;
    payload text;
    claimed_seq bigint;
    claimed_prev text;
    claimed_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(__LOCK_KEY__);
    SELECT seq, hash INTO head_seq, head_hash
      FROM audit_events ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        head_seq := 0;
        head_hash := repeat('0', 64);
    END IF;
    IF NEW.outcome IS NULL OR NEW.outcome NOT IN ('success', 'denied', 'failed') THEN
        RAISE EXCEPTION 'fivesafes: audit outcome must be success, denied or failed'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.details IS NULL OR jsonb_typeof(NEW.details::jsonb) <> 'object' THEN
        RAISE EXCEPTION 'fivesafes: audit details must be a JSON object'
            USING ERRCODE = 'check_violation';
    END IF;
    canonical := fivesafes_audit_canonical(NEW.details::jsonb);
    IF canonical IS NOT NULL AND canonical <> NEW.details THEN
        RAISE EXCEPTION 'fivesafes: audit details must be RFC 8785 canonical JSON'
            USING ERRCODE = 'check_violation';
    END IF;
    -- The sender may leave seq, prev_hash and hash to the database (0 and ''), or give
    -- exactly what the database computes; anything else is a forged event: refused.
    claimed_seq := NEW.seq;
    claimed_prev := NEW.prev_hash;
    claimed_hash := NEW.hash;
    IF coalesce(claimed_seq, 0) NOT IN (0, head_seq + 1)
       OR coalesce(claimed_prev, '') NOT IN ('', head_hash) THEN
        RAISE EXCEPTION 'fivesafes: audit event does not chain from the head (seq %)',
            head_seq USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.seq := head_seq + 1;
    NEW.prev_hash := head_hash;
    NEW.occurred_at := clock_timestamp();
    payload := '{"action":' || to_json(NEW.action)::text
        || ',"actor_id":' || coalesce(to_json(NEW.actor_id)::text, 'null')
        || ',"actor_role":' || coalesce(to_json(NEW.actor_role)::text, 'null')
        || ',"client_addr":' || coalesce(to_json(NEW.client_addr)::text, 'null')
        || ',"details":' || NEW.details
        || ',"occurred_at":' || to_json(to_char(NEW.occurred_at AT TIME ZONE 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
        || ',"outcome":' || to_json(NEW.outcome)::text
        || ',"request_id":' || coalesce(to_json(NEW.request_id)::text, 'null')
        || ',"seq":' || NEW.seq::text
        || ',"target_id":' || coalesce(to_json(NEW.target_id)::text, 'null')
        || ',"target_type":' || coalesce(to_json(NEW.target_type)::text, 'null')
        || '}';
    NEW.hash := encode(sha256(convert_to(head_hash || E'\\n' || payload, 'UTF8')), 'hex');
    IF coalesce(claimed_hash, '') NOT IN ('', NEW.hash) THEN
        RAISE EXCEPTION 'fivesafes: audit event hash is not the hash of its fields'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$
""".replace("__LOCK_KEY__", str(ADVISORY_LOCK_KEY))

_MOVE_VERSION_TABLES = """
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = '{src}' AND tablename LIKE 'dsv\\_%'
    LOOP
        EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', '{src}', t.tablename, '{dst}');
    END LOOP;
END
$$
"""

_SQLITE_CHAIN = """
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit_events)
  OR NEW.prev_hash IS NOT coalesce(
        (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1),
        '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
    SELECT RAISE(ABORT, 'fivesafes: audit event does not chain from the head');
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CANONICAL)
        op.execute(_CHAIN)
        op.execute(
            "CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION fivesafes_audit_chain()"
        )
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}")
        op.execute(_MOVE_VERSION_TABLES.format(src="public", dst=VERSION_SCHEMA))
    else:
        op.execute(_SQLITE_CHAIN)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_MOVE_VERSION_TABLES.format(src=VERSION_SCHEMA, dst="public"))
        op.execute(f"DROP SCHEMA IF EXISTS {VERSION_SCHEMA}")
        op.execute("DROP TRIGGER IF EXISTS audit_events_chain ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS fivesafes_audit_chain()")
        op.execute("DROP FUNCTION IF EXISTS fivesafes_audit_canonical(jsonb)")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_chain")
