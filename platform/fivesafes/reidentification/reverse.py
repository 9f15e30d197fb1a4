"""From a project pseudonym back to the re-identification record of its patient.

A released pseudonym is the stored block, moved to the project's pinned generation ``h``,
encrypted with AES-256 under the project key (:mod:`fivesafes.release.pseudonyms`): a
permutation, so whoever holds the platform keys can undo it. The generation is the one the
*release* was made at (its manifest), not the project's current one: a reissue after the
release must not turn the researcher's value into someone else's.

The reversed block is then checked to be a row of the release's version under the grant's
row filter and not opted out, so a value guessed or copied from another project finds
nothing. Every way of failing (malformed, another project's value, not in the release, no
record) returns the same ``None``: the caller refuses them all with one message.

Records stay at the generation they were ingested at (a rotation does not rewrite them),
so the stored block is moved to each known generation in turn to find one.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import replace

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from fivesafes.access.models import Grant
from fivesafes.datasets.models import DatasetVersion
from fivesafes.keys.remap import PseudonymChain
from fivesafes.keys.store import KeyStore
from fivesafes.reidentification.models import ReidentificationRecord
from fivesafes.release.models import Release
from fivesafes.release.pseudonyms import project_keys
from fivesafes.release.query import ReleasePlan, ReleaseTerms, build_plan

_PSEUDONYM = re.compile(r"[0-9a-f]{32}")


def release_generation(release: Release) -> int:
    """The project generation the release's pseudonyms were made at (its manifest)."""
    manifest = json.loads(release.manifest)
    return int(manifest["pseudonyms"]["pseudonym_generation"])


class Resolver:
    """Resolves project pseudonyms of one release: keys and plan built once per request."""

    def __init__(
        self, session: Session, keystore: KeyStore, release: Release, version: DatasetVersion
    ) -> None:
        self._session = session
        self._version = version
        pinned = release_generation(release)
        needed = max(pinned, version.pseudonym_generation) > 1
        remap_keys = tuple(keystore.pseudonym_remap_keys()) if needed else ()
        self._chain = PseudonymChain(remap_keys)
        master = keystore.secret("pseudonym") if pinned == 1 else remap_keys[pinned - 2]
        self._key = project_keys(master, keystore.secret("date_shift"), release.project_id)[0]
        self._pinned = pinned
        self._generations = range(1, self._chain.generation + 1)
        grant = session.get(Grant, release.grant_id)
        assert grant is not None  # a release's grant is never deleted (foreign key)
        terms = replace(ReleaseTerms.of(grant), version=version.number)
        self._plan: ReleasePlan = build_plan(session, terms)

    def _stored(self, project_pseudonym: str) -> bytes:
        decryptor = Cipher(algorithms.AES(self._key), modes.ECB()).decryptor()  # noqa: S305
        block = decryptor.update(binascii.unhexlify(project_pseudonym)) + decryptor.finalize()
        return self._chain.move(block, self._pinned, self._version.pseudonym_generation)

    def _in_release(self, stored_hex: str) -> bool:
        plan = self._plan
        if plan.patient_column is None:
            return False
        table = plan.table()
        query = (
            select(1)
            .select_from(table)
            .where(plan.where(), table.c[plan.patient_column] == stored_hex)
            .limit(1)
        )
        return self._session.scalar(query) is not None

    def resolve(self, project_pseudonym: str) -> ReidentificationRecord | None:
        """The record of the patient behind ``project_pseudonym``, or None (whatever the
        reason: the caller must not tell the reasons apart)."""
        if not _PSEUDONYM.fullmatch(project_pseudonym):
            return None
        stored = self._stored(project_pseudonym)
        if not self._in_release(stored.hex()):
            return None
        at = self._version.pseudonym_generation
        candidates = [
            and_(
                ReidentificationRecord.pseudonym_generation == g,
                ReidentificationRecord.pseudonym == self._chain.move(stored, at, g).hex(),
            )
            for g in self._generations
        ]
        query = (
            select(ReidentificationRecord)
            .where(
                ReidentificationRecord.dataset_id == self._version.dataset_id,
                or_(*candidates),
            )
            .order_by(ReidentificationRecord.pseudonym_generation)
            .limit(1)
        )
        return self._session.scalar(query)


def resolve_subject(
    session: Session,
    keystore: KeyStore,
    release: Release,
    version: DatasetVersion,
    project_pseudonym: str,
) -> ReidentificationRecord | None:
    """The record behind one project pseudonym of ``release`` (of ``version``), or None."""
    return Resolver(session, keystore, release, version).resolve(project_pseudonym)
