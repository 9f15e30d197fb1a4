"""Pseudonym generations: how stored pseudonyms move to a new key without raw identifiers.

Raw identifiers are never stored, so a stored pseudonym cannot be recomputed under a new
pseudonym key. Instead each rotation adds a *remap key* and every stored pseudonym is
re-mapped through a keyed permutation of its 128 bits::

    p_1 = HMAC-SHA256(derive_key(pseudonym key, "pseudonym", namespace), identifier)[:16]
    p_g = AES-256-ECB(R_g, p_(g-1))       R_g = derive_key(remap key g, "pseudonym-remap")

Why a permutation (AES on one block) and not another HMAC: it is reversible by whoever
holds the remap keys, so a project pinned at generation ``h`` gets exactly the pseudonyms
it always had (the release decrypts the stored block back to ``h``), while someone who
holds only the generation-1 key can no longer find a patient in the stored data: they can
compute ``p_1`` from an NHS number but not ``p_g``. Distinct inputs stay distinct (no
pseudonym collides with another after re-mapping) and ingestion of a new extract applies
the same chain, so linkage across extracts survives.

Everything here works on packed 16-byte blocks: one ECB call per batch (C speed), or one
reusable ECB context per value for the engine. Objects pickle as their keys and build
cipher contexts lazily, so engine workers receive them like the rest of the plan.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from fivesafes.errors import ConfigurationError
from fivesafes.keys.derivation import derive_key
from fivesafes.keys.pseudonym import Pseudonymiser

#: HKDF purpose of a remap key's AES key (R_g).
REMAP_PURPOSE = "pseudonym-remap"
#: File stem (and wrap AAD name) of generation g's remap key: ``pseudonym-remap-<g>``.
REMAP_PREFIX = "pseudonym-remap-"
_NAME = re.compile(r"pseudonym-remap-([1-9][0-9]{0,8})")
BLOCK = 16
FIRST_GENERATION = 1


def remap_key_name(generation: int) -> str:
    """The name of generation ``generation``'s remap key (2 or more)."""
    if generation <= FIRST_GENERATION:
        raise ValueError("remap keys start at generation 2 (generation 1 is the pseudonym key)")
    return f"{REMAP_PREFIX}{generation}"


def generation_of(stem: str) -> int | None:
    """The generation a file stem names (``pseudonym-remap-3`` -> 3), or None."""
    match = _NAME.fullmatch(stem)
    if match is None:
        return None
    generation = int(match.group(1))
    return generation if generation > FIRST_GENERATION else None


def remap_generations(folder: Path, suffix: str, where: str) -> list[int]:
    """The generations whose remap key file (``pseudonym-remap-<g><suffix>``) is in
    ``folder``, listed afresh: a key another process added is seen at once."""
    if not folder.is_dir():
        return []
    found: dict[int, Path] = {}
    for entry in folder.iterdir():
        if entry.suffix == suffix:
            generation = generation_of(entry.stem)
            if generation is not None:
                found[generation] = entry
    return contiguous(found, where) if found else []


def contiguous(found: dict[int, Any], where: str) -> list[int]:
    """Generations 2..n in order; a gap means a remap key was lost, which is fatal."""
    generations = sorted(found)
    expected = list(range(FIRST_GENERATION + 1, FIRST_GENERATION + 1 + len(generations)))
    if generations != expected:
        missing = sorted(set(range(2, max(generations) + 1)) - set(generations))
        raise ConfigurationError(
            f"{where} lacks remap key(s) {', '.join(remap_key_name(g) for g in missing)}: "
            "pseudonyms stored at later generations cannot be released without them; "
            "restore them from the key backup"
        )
    return generations


def current_generation(remap_keys: Sequence[bytes]) -> int:
    """The generation new pseudonyms are made at: 1 + the number of remap keys."""
    return FIRST_GENERATION + len(remap_keys)


def _ecb(key: bytes) -> Cipher[modes.ECB]:
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 (one block per value: a PRP)


class PseudonymChain:
    """The remap permutations R_2..R_n, to move packed blocks between generations."""

    __slots__ = ("_keys",)

    def __init__(self, remap_keys: Sequence[bytes]) -> None:
        # Derived once: R_g, never the remap key itself, is what encrypts.
        self._keys = tuple(derive_key(key, REMAP_PURPOSE) for key in remap_keys)

    @property
    def generation(self) -> int:
        """The newest generation this chain reaches."""
        return FIRST_GENERATION + len(self._keys)

    def _check(self, generation: int) -> None:
        if not FIRST_GENERATION <= generation <= self.generation:
            raise ConfigurationError(
                f"pseudonym generation {generation} is not known to this key store "
                f"(it holds generations 1 to {self.generation}): restore its remap keys"
            )

    def move(self, data: bytes, source: int, target: int) -> bytes:
        """Blocks at generation ``source`` brought to ``target`` (forward or backward)."""
        self._check(source)
        self._check(target)
        if len(data) % BLOCK:
            raise ValueError("pseudonym blocks must be a multiple of 16 bytes")
        if source < target:
            for generation in range(source + 1, target + 1):
                encryptor = _ecb(self._keys[generation - 2]).encryptor()
                data = encryptor.update(data) + encryptor.finalize()
        else:
            for generation in range(source, target, -1):
                decryptor = _ecb(self._keys[generation - 2]).decryptor()
                data = decryptor.update(data) + decryptor.finalize()
        return data

    def forward(self, data: bytes, source: int, target: int) -> bytes:
        """Blocks moved to a later (or the same) generation."""
        if target < source:
            raise ValueError("forward goes from an earlier generation to a later one")
        return self.move(data, source, target)

    def backward(self, data: bytes, source: int, target: int) -> bytes:
        """Blocks moved to an earlier (or the same) generation."""
        if target > source:
            raise ValueError("backward goes from a later generation to an earlier one")
        return self.move(data, source, target)

    def move_hex(self, values: Sequence[str], source: int, target: int) -> list[str]:
        """Stored pseudonyms (32 lower-case hex characters each) moved, in one batch."""
        if not values:
            return []
        try:
            data = binascii.unhexlify("".join(values))
        except binascii.Error:
            raise ValueError("a stored pseudonym is not hexadecimal") from None
        if len(data) != BLOCK * len(values):
            raise ValueError("a stored pseudonym is not 32 hex characters")
        text = binascii.hexlify(self.move(data, source, target)).decode("ascii")
        width = 2 * BLOCK
        return [text[i : i + width] for i in range(0, len(text), width)]

    def stepper(self, source: int, target: int) -> BlockStepper:
        """A per-value forward mover from ``source`` to ``target`` (for the engine)."""
        self._check(source)
        self._check(target)
        if target < source:
            raise ValueError("a stepper only moves forward")
        return BlockStepper(self._keys[source - 1 : target - 1])


class BlockStepper:
    """Forward re-mapping of 16-byte blocks (one, or many packed), with reusable ECB
    contexts (ECB has no state between blocks, so one context serves every call).

    Pickles as its derived keys; each process builds its contexts on first use (cipher
    contexts do not pickle).
    """

    __slots__ = ("_contexts", "_keys")

    def __init__(self, derived_keys: Sequence[bytes]) -> None:
        self._keys = tuple(derived_keys)
        self._contexts: tuple[CipherContext, ...] | None = None

    def __call__(self, block: bytes) -> bytes:
        contexts = self._contexts
        if contexts is None:
            contexts = self._contexts = tuple(_ecb(k).encryptor() for k in self._keys)
        for context in contexts:
            block = context.update(block)
        return block

    def __reduce__(self) -> tuple[object, ...]:
        return (BlockStepper, (self._keys,))


class RemappedPseudonymiser(Pseudonymiser):
    """A :class:`Pseudonymiser` whose output is carried forward to a later generation.

    Used only at generation 2 or later: at generation 1 the engine keeps the plain
    :class:`Pseudonymiser`, so the hot path is exactly what it was before rotation existed.
    """

    __slots__ = ("_step",)

    def __init__(self, master: bytes, namespace: str, chain: PseudonymChain) -> None:
        super().__init__(master, namespace)
        self._step = chain.stepper(FIRST_GENERATION, chain.generation)

    def __call__(self, normalised: str) -> str:
        return self._step(self._mac.digest(normalised.encode("utf-8"))[:BLOCK]).hex()

    def many(self, normalised: Sequence[str | None]) -> list[str | None]:
        """Pseudonyms of a column (None stays None): one ECB call per remap key for the
        whole column, where a call per value would cost more than the HMAC itself."""
        digest = self._mac.digest
        blocks = [digest(v.encode("utf-8"))[:BLOCK] for v in normalised if v is not None]
        text = binascii.hexlify(self._step(b"".join(blocks))).decode("ascii")
        width = 2 * BLOCK
        out: list[str | None] = []
        at = 0
        for value in normalised:
            if value is None:
                out.append(None)
            else:
                out.append(text[at : at + width])
                at += width
        return out
