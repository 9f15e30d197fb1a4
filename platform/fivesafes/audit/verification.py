"""The verification modes, put together for the API, the CLI and the web page.

- ``database``: the chain as stored, and the checkpoints stored beside it that verify
  with the trusted key. Proves the stored events are internally consistent and that no
  stored checkpoint was forged or contradicted; cannot see checkpoints deleted with the
  tail they covered.
- ``published`` (default): the above and every checkpoint in the published folder.
  Proves, in addition, that the chain still holds every event ever checkpointed there.
- checkpoint files and CSV exports kept elsewhere (CLI): the same for those copies, and
  for an export, every event it holds (closing the gap after the last checkpoint).

docs/audit.md has the table of what each mode finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from fivesafes.audit.checkpoints import Checkpoint, load_checkpoint
from fivesafes.audit.external import anchors_from_export
from fivesafes.audit.publish import published_checkpoints
from fivesafes.audit.trust import TrustedKeys, trusted_keys
from fivesafes.audit.verify import VerifyResult, verify_chain
from fivesafes.config import Settings
from fivesafes.errors import InvalidInputError
from fivesafes.keys.store import KeyStore

Against = Literal["published", "database"]


@dataclass(frozen=True, slots=True)
class VerifyScope:
    """What the chain is checked against: the trusted keys (a bare base64 key: the current
    key alone), the mode, and copies kept elsewhere (checkpoint ``files``, CSV ``exports``:
    the CLI's)."""

    trusted_key: TrustedKeys | str
    checkpoint_dir: Path | None
    against: Against = "published"
    files: Sequence[Path] = ()
    exports: Sequence[Path] = ()

    @classmethod
    def configured(
        cls, settings: Settings, keystore: KeyStore | None, against: Against = "published"
    ) -> VerifyScope:
        """The server's own: the configured trusted keys and published folder."""
        return cls(trusted_keys(settings, keystore), settings.audit_checkpoint_dir, against)


def verify_against(session: Session, scope: VerifyScope) -> VerifyResult:
    """Verify the chain in ``session`` with the checkpoints and copies of ``scope``.

    A published folder holding something that is not a checkpoint is damage (someone
    wrote into it); a bad file or export named by the caller is an input error.
    """
    checkpoints: list[tuple[str, Checkpoint]] = []
    if scope.against == "published" and scope.checkpoint_dir is not None:
        try:
            published = published_checkpoints(scope.checkpoint_dir)
        except InvalidInputError as exc:
            return VerifyResult(False, 0, 0, None, "bad_checkpoint", str(exc))
        checkpoints += [(f"published {p.path.name}", p.checkpoint) for p in published]
    checkpoints += [(f"file {path.name}", load_checkpoint(path)) for path in scope.files]
    anchors = [anchor for path in scope.exports for anchor in anchors_from_export(path)]
    return verify_chain(session, checkpoints, trusted_public_key=scope.trusted_key, anchors=anchors)
