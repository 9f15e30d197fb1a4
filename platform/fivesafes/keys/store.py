"""The :class:`KeyStore` protocol every key adapter implements, and an in-memory adapter.

The protocol is shaped by operations, not by bytes, because a hardware security module
will not hand out its keys: the audit-signing key *signs*, the key-encryption key *wraps
and unwraps*. Only the two keys the de-identification engine needs at hundreds of
thousands of HMACs a second (pseudonym, date shift) are ever held in process memory, so
:meth:`KeyStore.secret` accepts those two names and no other. Names are a closed set so
that a typo fails loudly instead of silently creating a new, unrelated key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, get_args, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fivesafes.errors import ConfigurationError
from fivesafes.keys import reid_blob, wrapping
from fivesafes.keys.remap import remap_key_name

if TYPE_CHECKING:
    from fivesafes.keys.retired import RetiredKey

KeyName = Literal["pseudonym", "date_shift", "kek", "audit_signing"]
#: The keys that exist in process memory (HMAC keys of the de-identification engine).
MemoryKeyName = Literal["pseudonym", "date_shift"]
MEMORY_KEY_NAMES: tuple[MemoryKeyName, ...] = get_args(MemoryKeyName)

#: Every key the platform uses, and why. ``audit_signing`` is an Ed25519 private key seed.
KEY_NAMES: dict[KeyName, str] = {
    "pseudonym": "HMAC-SHA256 key for dataset pseudonyms (changes only by planned re-mapping)",
    "date_shift": "HMAC-SHA256 key for per-patient date-shift offsets",
    "kek": "AES-256 key-encryption key wrapping data keys",
    "audit_signing": "Ed25519 key signing audit-chain checkpoints",
}

#: What each key is, for ``keys status`` (every store reports the same kinds).
KEY_KINDS: dict[KeyName, str] = {
    "pseudonym": "HMAC-SHA256 secret",
    "date_shift": "HMAC-SHA256 secret",
    "kek": "AES-256 key-encryption key",
    "audit_signing": "Ed25519 signing key",
}

KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What ``keys status`` shows of one key: never its material, only public facts."""

    name: str  # a KeyName, or a generation's remap key (``pseudonym-remap-<g>``)
    kind: str
    location: str
    fingerprint: str
    created_at: datetime | None


@runtime_checkable
class KeyStore(Protocol):
    """Where the platform's keys live, as the operations callers need of them."""

    def describe(self) -> str:
        """A human-readable location for messages (never the key material)."""
        ...

    def secret(self, name: MemoryKeyName) -> bytes:
        """The raw bytes of a memory key; :class:`ConfigurationError` if unavailable."""
        ...

    def wrap(self, name: str, data_key: bytes) -> bytes:
        """``data_key`` sealed under the current KEK as an ``FSW1`` blob bound to ``name``."""
        ...

    def unwrap(self, name: str, blob: bytes) -> bytes:
        """The data key in ``blob``; :class:`EnvelopeError` if it does not authenticate."""
        ...

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of ``message`` by the audit-signing key."""
        ...

    def verification_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key that verifies :meth:`sign`."""
        ...

    def status(self) -> list[KeyInfo]:
        """Every key the store holds, with public fingerprints and creation dates."""
        ...

    def pseudonym_remap_keys(self) -> tuple[bytes, ...]:
        """The remap keys of pseudonym generations 2..n, in order (empty before any
        rotation); re-read on each call, so a key another process added is seen."""
        ...

    def add_pseudonym_remap_key(self, material: bytes | None = None) -> int:
        """Store a new remap key (random if None) and return its generation (2, 3, ...)."""
        ...

    def retired_verification_keys(self) -> tuple[RetiredKey, ...]:
        """The retired audit-signing public keys, oldest first, each attested by its
        successor up to :meth:`verification_key` (``keys.retired``); a record that is not
        is refused with :class:`~fivesafes.keys.retired.RetiredKeysError`."""
        ...

    # The re-identification key (``keys.reid_blob``) is optional, like the remap keys:
    # only a site whose dataset policies allow re-identification makes one, so it is not
    # in KEY_NAMES and its absence is no fault of ``keys status``/``keys check``.

    def has_reidentification_key(self) -> bool:
        """Whether the store holds the re-identification key (looked up afresh)."""
        ...

    def reidentification_seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """``plaintext`` sealed (AES-256-GCM, bound to ``aad``) as an ``FSR1`` blob;
        :class:`ConfigurationError` if the store holds no re-identification key."""
        ...

    def reidentification_open(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext of an ``FSR1`` blob sealed with ``aad``; :class:`EnvelopeError`
        if it does not authenticate (another row's, altered, another key's)."""
        ...

    def init_reidentification_key(self) -> KeyInfo:
        """Create the re-identification key and return its status row;
        :class:`ConfigurationError` if it already exists (it is never replaced)."""
        ...


def key_id(secret: bytes) -> str:
    """A short public fingerprint of a key, for reports: which key was used, not what it is.

    It is an HMAC under the key itself, so it reveals nothing usable about the key while
    letting an auditor tell two extracts pseudonymised under different keys apart.
    """
    return hmac.new(secret, b"fivesafes/key-id/v1", hashlib.sha256).hexdigest()[:16]


def public_key_fingerprint(raw_public_key: bytes) -> str:
    """The fingerprint of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def local_kek_id(kek: bytes) -> bytes:
    """The id a software KEK writes into its blobs: the first 8 bytes of its SHA-256."""
    return hashlib.sha256(kek).digest()[: wrapping.KEK_ID_BYTES]


def ed25519_verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` over ``message`` was made by the raw Ed25519 ``public_key``.

    False, never an exception, for a malformed key or signature: every verifier of the
    platform's signatures (retired-key attestations, hand-over manifests) treats those as
    a signature that does not verify.
    """
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verification_key_pem(store: KeyStore) -> bytes:
    """The audit verification key as PEM (SubjectPublicKeyInfo), for independent checks."""
    public = Ed25519PublicKey.from_public_bytes(store.verification_key())
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


#: What a remap key is, for ``keys status``.
REMAP_KEY_KIND = "pseudonym re-mapping key (AES-256 via HKDF)"


def remap_key_info(
    generation: int, material: bytes, location: str, created_at: datetime | None
) -> KeyInfo:
    """The ``keys status`` row of generation ``generation``'s remap key."""
    return KeyInfo(
        remap_key_name(generation), REMAP_KEY_KIND, location, key_id(material), created_at
    )


def reidentification_info(material: bytes, location: str, created_at: datetime | None) -> KeyInfo:
    """The ``keys status`` row of a re-identification key this process holds (its
    fingerprint is the key id its ``FSR1`` blobs name)."""
    return KeyInfo(
        reid_blob.REID_KEY_NAME,
        reid_blob.REID_KEY_KIND,
        location,
        local_kek_id(material).hex(),
        created_at,
    )


def new_remap_material(material: bytes | None) -> bytes:
    """A new remap key: ``material`` checked (a migration passes the old store's), or random."""
    if material is None:
        return secrets.token_bytes(KEY_BYTES)
    if len(material) != KEY_BYTES:
        raise ConfigurationError(f"a pseudonym remap key is {KEY_BYTES} bytes")
    return bytes(material)


def require_memory_key(name: str) -> MemoryKeyName:
    """``name`` if it is a memory key; a refusal naming the operation to use otherwise."""
    for memory_name in MEMORY_KEY_NAMES:
        if name == memory_name:
            return memory_name
    if name in KEY_NAMES:
        raise ConfigurationError(
            f"key {name!r} never leaves the key store: use its operations "
            "(wrap/unwrap for the KEK, sign/verification_key for audit signing)"
        )
    raise ConfigurationError(f"unknown key name {name!r}")


class SoftwareKeyOps:
    """wrap/unwrap/sign with key material held by this process (local and in-memory stores).

    Subclasses provide :meth:`_material`; the operations are the same for both, and the
    blobs they write are the ``FSW1`` format a PKCS#11 store writes too.
    """

    def _material(self, name: KeyName) -> bytes:
        raise NotImplementedError

    def wrap(self, name: str, data_key: bytes) -> bytes:
        if len(data_key) != wrapping.DATA_KEY_BYTES:
            raise ConfigurationError(f"a data key is {wrapping.DATA_KEY_BYTES} bytes")
        kek = self._wrapping_kek()
        nonce = secrets.token_bytes(wrapping.NONCE_BYTES)
        sealed = wrapping.software_seal(kek, nonce, data_key, wrapping.wrap_aad(name))
        return wrapping.pack_blob(local_kek_id(kek), nonce, sealed)

    def unwrap(self, name: str, blob: bytes) -> bytes:
        kek_id, nonce, sealed = wrapping.unpack_blob(blob)
        kek = self._unwrapping_kek(kek_id)
        if kek is None:
            raise wrapping.EnvelopeError(
                f"wrapped key {name!r} was wrapped by KEK {kek_id.hex()}, "
                f"not by this store's KEK {local_kek_id(self._wrapping_kek()).hex()}"
            )
        return wrapping.software_open(kek, nonce, sealed, wrapping.wrap_aad(name), name)

    def _wrapping_kek(self) -> bytes:
        """The KEK new blobs are sealed under (a store rotating its KEK gives the next one)."""
        return self._material("kek")

    def _unwrapping_kek(self, kek_id: bytes) -> bytes | None:
        """The KEK whose id a blob names, or None: during a rotation, the current or the next."""
        kek = self._material("kek")
        return kek if hmac.compare_digest(kek_id, local_kek_id(kek)) else None

    def _signer(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._material("audit_signing"))

    def sign(self, message: bytes) -> bytes:
        return self._signer().sign(message)

    def verification_key(self) -> bytes:
        return self._signer().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    # -- the re-identification key (held by this process: the local and in-memory stores)

    def _reid_material(self) -> bytes | None:
        """The re-identification key's 32 bytes, or None if the store holds none."""
        raise NotImplementedError

    def _require_reid(self) -> tuple[bytes, bytes]:
        material = self._reid_material()
        if material is None:
            raise reid_blob.missing_key(self.describe())
        return material, local_kek_id(material)

    def describe(self) -> str:
        raise NotImplementedError

    def has_reidentification_key(self) -> bool:
        return self._reid_material() is not None

    def reidentification_seal(self, plaintext: bytes, aad: bytes) -> bytes:
        key, kid = self._require_reid()
        nonce = secrets.token_bytes(reid_blob.NONCE_BYTES)
        return reid_blob.software_seal(key, kid, nonce, plaintext, aad)

    def reidentification_open(self, blob: bytes, aad: bytes) -> bytes:
        key, kid = self._require_reid()
        return reid_blob.software_open(key, kid, blob, aad)

    def _fingerprint(self, name: KeyName) -> str:
        if name == "audit_signing":
            return public_key_fingerprint(self.verification_key())
        if name == "kek":
            return local_kek_id(self._material("kek")).hex()
        return key_id(self._material(name))


class InMemoryKeyStore(SoftwareKeyOps):
    """Keys held in memory: for tests and for callers that already hold the key material."""

    def __init__(
        self, keys: dict[KeyName, bytes] | None = None, *, reidentification: bytes | None = None
    ) -> None:
        self._keys: dict[KeyName, bytes] = dict(keys) if keys is not None else {}
        self._remap_keys: list[bytes] = []
        self._retired: list[RetiredKey] = []
        if reidentification is not None and len(reidentification) != KEY_BYTES:
            raise ConfigurationError(f"a re-identification key is {KEY_BYTES} bytes")
        self._reid: bytes | None = reidentification

    @classmethod
    def generate(cls) -> InMemoryKeyStore:
        """A store with fresh random keys for every name, and a re-identification key."""
        return cls(
            {name: secrets.token_bytes(KEY_BYTES) for name in KEY_NAMES},
            reidentification=secrets.token_bytes(KEY_BYTES),
        )

    def _reid_material(self) -> bytes | None:
        return self._reid

    def init_reidentification_key(self) -> KeyInfo:
        if self._reid is not None:
            raise ConfigurationError(
                f"{self.describe()} already holds a re-identification key; refusing to "
                "replace it (every sealed NHS number would become unreadable)"
            )
        self._reid = secrets.token_bytes(KEY_BYTES)
        return reidentification_info(self._reid, "process memory", None)

    def reidentification_info(self) -> KeyInfo | None:
        """The re-identification key's status row, or None if there is no key.

        Kept out of :meth:`status`: an in-memory store's rows are the :data:`KEY_NAMES`
        keys and the remap keys, which callers (and tests) compare with that list, and
        ``generate()`` makes the re-identification key too.
        """
        if self._reid is None:
            return None
        return reidentification_info(self._reid, "process memory", None)

    def _material(self, name: KeyName) -> bytes:
        try:
            return self._keys[name]
        except KeyError:
            raise ConfigurationError(f"key {name!r} is not in the in-memory key store") from None

    def secret(self, name: MemoryKeyName) -> bytes:
        return self._material(require_memory_key(name))

    def describe(self) -> str:
        return "in-memory key store"

    def status(self) -> list[KeyInfo]:
        infos = [
            KeyInfo(name, KEY_KINDS[name], "process memory", self._fingerprint(name), None)
            for name in KEY_NAMES
            if name in self._keys
        ]
        return infos + [
            remap_key_info(generation, key, "process memory", None)
            for generation, key in enumerate(self._remap_keys, start=2)
        ]

    def pseudonym_remap_keys(self) -> tuple[bytes, ...]:
        return tuple(self._remap_keys)

    def add_pseudonym_remap_key(self, material: bytes | None = None) -> int:
        self._remap_keys.append(new_remap_material(material))
        return 1 + len(self._remap_keys)

    def retired_verification_keys(self) -> tuple[RetiredKey, ...]:
        from fivesafes.keys.retired import attested_chain  # noqa: PLC0415 (imports this module)

        return attested_chain(self._retired, self.verification_key(), self.describe())

    def add_retired_key(self, record: RetiredKey) -> None:
        """Keep a retirement record (``keys.retired.retire_signing_key`` checks it first)."""
        self._retired.append(record)
