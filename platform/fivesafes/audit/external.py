"""An external copy of the events (a CSV export kept elsewhere) as anchors for verification.

Signed checkpoints cover the chain up to the last one signed; events after it are covered
only by the database's own refusals. A copy of the trail taken later and kept outside the
database (``GET /audit/events.csv``, ``fivesafes audit show --csv``) closes that gap for
the events it holds: the chain must still contain every one of them with the same hash.
The copy is the operator's own, so it needs no signature; it proves only as much as the
place it was kept is trusted.
"""

from __future__ import annotations

import csv
from pathlib import Path

from fivesafes.audit.queries import CSV_COLUMNS, HASHED_CSV_COLUMNS
from fivesafes.audit.verify import Anchor
from fivesafes.errors import InvalidInputError

_HASH_LENGTH = 64


def anchors_from_export(path: Path) -> list[Anchor]:
    """Every event of an audit CSV export as an anchor; a malformed file is named."""
    source = f"export {path.name}"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader, ()))
            # Exports made before the actor_username column have the hashed columns only.
            if header not in (CSV_COLUMNS, HASHED_CSV_COLUMNS):
                raise InvalidInputError(f"{path}: not an audit export (header differs)")
            seq_at, hash_at = header.index("seq"), header.index("hash")
            anchors = []
            for line, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise InvalidInputError(f"{path}: line {line} has {len(row)} fields")
                seq, digest = row[seq_at], row[hash_at]
                if not seq.isdigit() or len(digest) != _HASH_LENGTH:
                    raise InvalidInputError(f"{path}: line {line}: seq or hash is malformed")
                anchors.append(Anchor(int(seq), digest, source))
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such export file") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInputError(f"{path}: not an audit export ({type(exc).__name__})") from None
    return anchors
