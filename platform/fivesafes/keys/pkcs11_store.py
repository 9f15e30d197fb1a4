"""The PKCS#11 key store: the KEK and the audit-signing key live in a token and never leave it.

Selected with ``FIVESAFES_KEYSTORE=pkcs11``; reached through the vendor's PKCS#11 module
(SoftHSM2 in tests, a Luna / nShield / CloudHSM module in production). What sits where:

- the KEK (label ``fivesafes-kek``) is an AES-256 token key, SENSITIVE and not
  EXTRACTABLE; wrapping and unwrapping are AES-GCM operations *performed by the token*;
- the audit-signing key (label ``fivesafes-audit-signing``) is an Ed25519 pair generated
  in the token; checkpoints are signed by the token, only the public half is readable;
- the pseudonym and date-shift keys are HMAC keys used twice per ingested row, far faster
  than a token round trip allows (~31,600 HMACs/s in SoftHSM2 against the 100,000/s that
  ingestion needs), so they exist outside the token only as ``FSW1`` blobs wrapped by the
  KEK (``<FIVESAFES_KEYSTORE_PATH>/<name>.wrapped``, 0600) and are unwrapped into process
  memory once, on first use, and cached.

One logged-in session is opened at start and shared by every thread under a lock: PKCS#11
sessions are not safe for concurrent use, and a token allows one login per process anyway.
The PIN is read from a 0600/0400 file, used once to log in, and never kept or printed.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_named_curve_parameters

from fivesafes.errors import ConfigurationError
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.kek_rotation import progress, require_all_rewrapped
from fivesafes.keys.private_files import create_private, read_private
from fivesafes.keys.reid_blob import (
    REID_KEY_KIND,
    REID_KEY_LABEL,
    REID_KEY_NAME,
    missing_key,
    pack,
    unpack,
)
from fivesafes.keys.remap import remap_generations, remap_key_name
from fivesafes.keys.retired import RETIRED_FILE, RetiredKey, trusted_retired_keys
from fivesafes.keys.store import (
    KEY_KINDS,
    MEMORY_KEY_NAMES,
    KeyInfo,
    MemoryKeyName,
    key_id,
    new_remap_material,
    public_key_fingerprint,
    remap_key_info,
)
from fivesafes.keys.wrapping import (
    DATA_KEY_BYTES,
    KEK_ID_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    pack_blob,
    unpack_blob,
    wrap_aad,
)

if TYPE_CHECKING:
    from fivesafes.config import Settings

KEK_LABEL: Final = "fivesafes-kek"
#: The KEK a pending rotation rewraps under (promoted to ``KEK_LABEL`` when it finishes).
KEK_NEXT_LABEL: Final = "fivesafes-kek-next"
SIGNING_LABEL: Final = "fivesafes-audit-signing"
#: The pair a pending signing-key rotation made (relabelled ``SIGNING_LABEL`` when it finishes).
SIGNING_NEXT_LABEL: Final = "fivesafes-audit-signing-next"
#: RFC 8410 object identifier of Ed25519, the EC_PARAMS of an Edwards key.
ED25519_OID: Final = "1.3.101.112"
MEMORY_KEYS: Final = MEMORY_KEY_NAMES
_WRAPPED_SUFFIX: Final = ".wrapped"
_MODULE_VAR: Final = "FIVESAFES_PKCS11_MODULE"
_TOKEN_VAR: Final = "FIVESAFES_PKCS11_TOKEN"  # noqa: S105 (a variable name, not a secret)
_PIN_VAR: Final = "FIVESAFES_PKCS11_PIN_FILE"
_PIN_MODES: Final = (0o600, 0o400)


class Pkcs11KeyStore:
    """The :class:`~fivesafes.keys.store.KeyStore` protocol over one PKCS#11 token."""

    def __init__(self, session: Any, *, token_label: str, module: Path, keystore_path: Path):
        # python-pkcs11's Session is typed loosely (Any); it is only touched under _lock.
        self._session = session
        self.token_label = token_label
        self.module = Path(module)
        self.path = Path(keystore_path)
        self._lock = threading.RLock()
        self._secrets: dict[MemoryKeyName, bytes] = {}
        self._kek: Any = None
        self._kek_id: bytes | None = None
        self._signing: tuple[Any, Any] | None = None
        self._remap_cache: dict[int, bytes] = {}
        self._reid: tuple[Any, bytes] | None = None

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11KeyStore:
        """Open the token the settings name; every failure names the variable to fix."""
        module = settings.pkcs11_module
        if module is None:
            raise ConfigurationError(f"{_MODULE_VAR} is not set (path of the PKCS#11 module)")
        label = settings.pkcs11_token
        if not label:
            raise ConfigurationError(f"{_TOKEN_VAR} is not set (label of the PKCS#11 token)")
        if settings.pkcs11_pin_file is None:
            raise ConfigurationError(f"{_PIN_VAR} is not set (file holding the token's user PIN)")
        pin = read_pin_file(settings.pkcs11_pin_file)
        return cls.open(module, label, pin, settings.keystore_path)

    @classmethod
    def open(cls, module: Path, token_label: str, pin: str, keystore_path: Path) -> Pkcs11KeyStore:
        """Load the module, find the token by label and log in with ``pin``."""
        module = Path(module)
        if not module.is_file():
            raise ConfigurationError(f"{_MODULE_VAR}: no PKCS#11 module at {module}")
        try:
            library = pkcs11.lib(str(module))
        except p11.PKCS11Error:
            raise ConfigurationError(
                f"{_MODULE_VAR}: {module} could not be loaded as a PKCS#11 module"
            ) from None
        try:
            token = library.get_token(token_label=token_label)
        except p11.NoSuchToken:
            raise ConfigurationError(
                f"{_TOKEN_VAR}: no token labelled {token_label!r} in {module}"
            ) from None
        except p11.MultipleTokensReturned:
            raise ConfigurationError(
                f"{_TOKEN_VAR}: more than one token labelled {token_label!r} in {module}"
            ) from None
        try:
            session = token.open(user_pin=pin, rw=True)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
            raise ConfigurationError(
                f"{_PIN_VAR}: the PIN it holds was refused by token {token_label!r}"
            ) from None
        except p11.PinLocked:
            raise ConfigurationError(
                f"{_PIN_VAR}: the user PIN of token {token_label!r} is locked "
                "(too many wrong attempts); the security officer must reset it"
            ) from None
        except p11.UserAlreadyLoggedIn:
            # PKCS#11 logs in per process, not per session: this process already holds a
            # logged-in session on the token (a second store on it), and this one shares it.
            session = token.open(rw=True)
        except p11.PKCS11Error as exc:
            raise ConfigurationError(
                f"{_TOKEN_VAR}: cannot open token {token_label!r}: {type(exc).__name__}"
            ) from None
        return cls(session, token_label=token_label, module=module, keystore_path=keystore_path)

    def close(self) -> None:
        """End the session (the token logs the process out when its last session closes)."""
        with self._lock:
            self._secrets.clear()
            self._reid = None
            self._session.close()

    def describe(self) -> str:
        return f"PKCS#11 token {self.token_label!r} ({self.module})"

    def _where(self) -> str:
        """The location ``keys status`` gives of a key held in the token."""
        return f"PKCS#11 token {self.token_label!r}, non-extractable"

    # -- the key ceremony ------------------------------------------------------------

    def init(self, import_secrets: Mapping[str, bytes] | None = None) -> list[KeyInfo]:
        """Create every key; refuse if any exists. Returns the new keys' public status.

        The KEK and the signing pair are generated in the token; the pseudonym and
        date-shift keys are generated here (or taken from ``import_secrets``, the hook a
        migration from the local store uses to keep every pseudonym) and written only
        wrapped. A failure part-way destroys what this call created, so a retry can run.
        """
        imported = dict(import_secrets or {})
        unknown = sorted(set(imported) - set(MEMORY_KEYS))
        if unknown:
            raise ConfigurationError(
                f"only {', '.join(MEMORY_KEYS)} can be imported into {self.describe()}, "
                f"not {', '.join(unknown)}"
            )
        for name, material in imported.items():
            if len(material) != DATA_KEY_BYTES:
                raise ConfigurationError(
                    f"imported key {name!r} is {len(material)} bytes, expected {DATA_KEY_BYTES}"
                )
        with self._lock:
            existing = [
                label
                for label in (KEK_LABEL, KEK_NEXT_LABEL, SIGNING_LABEL, SIGNING_NEXT_LABEL)
                if self._objects(label)
            ]
            existing += [p.name for p in map(self.wrapped_path, MEMORY_KEYS) if p.exists()]
            if existing:
                raise ConfigurationError(
                    f"{self.describe()} already holds {', '.join(existing)}; refusing to "
                    "create keys again (replacing the pseudonym key breaks linkage with "
                    "earlier extracts)"
                )
            missing = missing_mechanisms(set(self._session.token.slot.get_mechanisms()))
            if missing:
                raise ConfigurationError(
                    f"{self.describe()} lacks the mechanisms {', '.join(missing)}: the "
                    "audit-signing key is Ed25519 and the KEK wraps with AES-GCM, inside "
                    "the token (docs/keys.md)"
                )
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.path, 0o700)  # mkdir's mode is filtered by the umask
            written: list[Path] = []
            try:
                self._generate_kek()
                self._generate_signing_pair()
                for name in MEMORY_KEYS:
                    material = imported.get(name) or secrets.token_bytes(DATA_KEY_BYTES)
                    target = self.wrapped_path(name)
                    create_private(target, self.wrap(name, material))
                    written.append(target)
                    self._secrets[name] = material
            except BaseException:
                self._rollback(written)
                raise
        return self.status()

    def _generate_kek(self) -> None:
        self._kek, self._kek_id = self._new_kek(KEK_LABEL)

    def _new_kek(self, label: str) -> tuple[Any, bytes]:
        """A new AES-256 token KEK labelled ``label`` with a fresh random 8-byte CKA_ID."""
        kek_id = secrets.token_bytes(KEK_ID_BYTES)
        kek = self._session.generate_key(
            KeyType.AES,
            256,
            store=True,
            label=label,
            id=kek_id,
            template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.START_DATE: _today(),
                # Only the data operations this store performs: no wrapping of token keys.
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.SIGN: False,
                Attribute.VERIFY: False,
            },
        )
        return kek, kek_id

    def _generate_signing_pair(self) -> None:
        self._signing = self._new_signing_pair(SIGNING_LABEL)

    def _new_signing_pair(self, label: str) -> tuple[Any, Any]:
        """A new Ed25519 token pair labelled ``label``, with a fresh random 8-byte CKA_ID."""
        pair_id = secrets.token_bytes(KEK_ID_BYTES)
        public, private = self._session.generate_keypair(
            KeyType.EC_EDWARDS,
            0,
            store=True,
            label=label,
            id=pair_id,
            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            public_template={
                Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID),
                Attribute.START_DATE: _today(),
            },
            private_template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.START_DATE: _today(),
            },
        )
        return public, private

    def _rollback(self, written: list[Path]) -> None:
        for target in written:
            target.unlink(missing_ok=True)
        for label in (KEK_LABEL, SIGNING_LABEL):
            for obj in self._objects(label):
                obj.destroy()
        self._kek = self._kek_id = self._signing = None
        self._secrets.clear()

    # -- the protocol ----------------------------------------------------------------

    def wrapped_path(self, name: str) -> Path:
        """Where the named memory key's wrapped blob lives."""
        return self.path / f"{name}{_WRAPPED_SUFFIX}"

    def secret(self, name: MemoryKeyName) -> bytes:
        """A pseudonym or date-shift key, unwrapped by the token on first use and cached."""
        if name not in MEMORY_KEYS:
            raise ConfigurationError(
                f"key {name!r} never leaves {self.describe()}: use sign() or wrap()/unwrap()"
            )
        with self._lock:
            cached = self._secrets.get(name)
            if cached is not None:
                return cached
            material = self.unwrap(name, _read_private(self.wrapped_path(name), name))
            self._secrets[name] = material
            return material

    def wrap(self, name: str, data_key: bytes) -> bytes:
        """``data_key`` sealed by the token's KEK as an ``FSW1`` blob bound to ``name``."""
        if len(data_key) != DATA_KEY_BYTES:
            raise ConfigurationError(f"a data key is {DATA_KEY_BYTES} bytes")
        aad = wrap_aad(name)
        nonce = secrets.token_bytes(NONCE_BYTES)
        with self._lock:
            kek, kek_id = self._current_kek()
            sealed = kek.encrypt(
                bytes(data_key),
                mechanism=Mechanism.AES_GCM,
                mechanism_param=pkcs11.GCMParams(nonce, aad, TAG_BYTES * 8),
            )
        return pack_blob(kek_id, nonce, bytes(sealed))

    def unwrap(self, name: str, blob: bytes) -> bytes:
        """Open a blob wrapped as ``name``; :class:`EnvelopeError` if it does not authenticate."""
        aad = wrap_aad(name)
        blob_kek, nonce, sealed = unpack_blob(blob)
        with self._lock:
            # By the id the blob names, among the current and a pending rotation's next
            # KEK: so a rotation killed half-way leaves every file readable.
            kek = self._kek_by_id(blob_kek)
            if kek is None:
                _, kek_id = self._current_kek()
                raise EnvelopeError(
                    f"{name!r} was wrapped by KEK {blob_kek.hex()}, but {self.describe()} "
                    f"holds KEK {kek_id.hex()}"
                )
            try:
                opened = kek.decrypt(
                    sealed,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=pkcs11.GCMParams(nonce, aad, TAG_BYTES * 8),
                )
            except p11.PKCS11Error:
                raise EnvelopeError(
                    f"cannot unwrap {name!r}: it was not wrapped as {name!r} by this KEK, "
                    "or it was altered"
                ) from None
        return bytes(opened)

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of ``message``, made inside the token."""
        with self._lock:
            _, private = self._signing_pair()
            return bytes(private.sign(bytes(message), mechanism=Mechanism.EDDSA))

    def verification_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key (RFC 8032) that verifies :meth:`sign`."""
        with self._lock:
            public, _ = self._signing_pair()
            point = bytes(public[Attribute.EC_POINT])
        return _raw_ed25519(point)

    def status(self) -> list[KeyInfo]:
        """Which keys exist, where, their public fingerprints and creation dates."""
        where = self._where()
        infos: list[KeyInfo] = []
        with self._lock:
            signing = self._objects(SIGNING_LABEL, ObjectClass.PRIVATE_KEY)
            kek_info = self._kek_info(where)
            if kek_info is not None:
                infos.append(kek_info)
            if signing:
                infos.append(
                    KeyInfo(
                        name="audit_signing",
                        kind=KEY_KINDS["audit_signing"],
                        location=where,
                        fingerprint=public_key_fingerprint(self.verification_key()),
                        created_at=_start_date(signing[0]),
                    )
                )
            for name in MEMORY_KEYS:
                target = self.wrapped_path(name)
                if not target.exists():
                    continue
                try:
                    fingerprint = key_id(self.secret(name))
                except ConfigurationError:  # status reports a broken key, it does not fail
                    fingerprint = "unreadable"
                infos.append(
                    KeyInfo(
                        name=name,
                        kind=KEY_KINDS[name],
                        location=f"{target}, wrapped by the KEK",
                        fingerprint=fingerprint,
                        created_at=datetime.fromtimestamp(target.stat().st_mtime, UTC),
                    )
                )
            for generation, material in zip(
                self._remap_generations(), self.pseudonym_remap_keys(), strict=True
            ):
                target = self.wrapped_path(remap_key_name(generation))
                created = datetime.fromtimestamp(target.stat().st_mtime, UTC)
                location = f"{target}, wrapped by the KEK"
                infos.append(remap_key_info(generation, material, location, created))
            reid = self._reid_key()
            if reid is not None:
                key, reid_id = reid
                infos.append(
                    KeyInfo(REID_KEY_NAME, REID_KEY_KIND, where, reid_id.hex(), _start_date(key))
                )
        return infos

    # -- the re-identification key (optional; its operations are performed by the token) --

    def _reid_key(self) -> tuple[Any, bytes] | None:
        """``(key, CKA_ID)`` of the token's re-identification key, or None.

        Cached once found (the key is never replaced, and one lookup per seal would
        double the token calls at ingestion); looked up afresh until then, so a key made
        by ``keys init-reidentification`` beside a running process is seen.
        """
        if self._reid is not None:
            return self._reid
        found = self._objects(REID_KEY_LABEL, ObjectClass.SECRET_KEY)
        if len(found) > 1:
            raise ConfigurationError(f"{self.describe()} holds more than one {REID_KEY_LABEL!r}")
        if not found:
            return None
        self._reid = (found[0], bytes(found[0][Attribute.ID]))
        return self._reid

    def _require_reid_key(self) -> tuple[Any, bytes]:
        reid = self._reid_key()
        if reid is None:
            raise missing_key(self.describe())
        return reid

    def has_reidentification_key(self) -> bool:
        with self._lock:
            return self._reid_key() is not None

    def init_reidentification_key(self) -> KeyInfo:
        """Generate the AES-256 re-identification key in the token (SENSITIVE, not
        EXTRACTABLE, encrypt/decrypt only); refuse if the token already holds one."""
        with self._lock:
            if self._reid_key() is not None:
                raise ConfigurationError(
                    f"{self.describe()} already holds a re-identification key "
                    f"({REID_KEY_LABEL!r}); refusing to replace it (every sealed NHS number "
                    "would become unreadable)"
                )
            available = set(self._session.token.slot.get_mechanisms())
            lacking = [
                m.name for m in (Mechanism.AES_KEY_GEN, Mechanism.AES_GCM) if m not in available
            ]
            if lacking:
                raise ConfigurationError(
                    f"{self.describe()} lacks the mechanisms {', '.join(lacking)}: the "
                    "re-identification key seals with AES-GCM inside the token"
                )
            key, reid_id = self._new_kek(REID_KEY_LABEL)  # the KEK's template: see there
            self._reid = (key, reid_id)
            return KeyInfo(
                REID_KEY_NAME, REID_KEY_KIND, self._where(), reid_id.hex(), _start_date(key)
            )

    def reidentification_seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """``plaintext`` sealed by the token's re-identification key as an ``FSR1`` blob."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        with self._lock:
            key, reid_id = self._require_reid_key()
            sealed = key.encrypt(
                bytes(plaintext),
                mechanism=Mechanism.AES_GCM,
                mechanism_param=pkcs11.GCMParams(nonce, bytes(aad), TAG_BYTES * 8),
            )
        return pack(reid_id, nonce, bytes(sealed))

    def reidentification_open(self, blob: bytes, aad: bytes) -> bytes:
        """Open an ``FSR1`` blob in the token; :class:`EnvelopeError` if it does not
        authenticate (the message never shows the blob or its content)."""
        blob_id, nonce, sealed = unpack(blob)
        with self._lock:
            key, reid_id = self._require_reid_key()
            if not hmac.compare_digest(blob_id, reid_id):
                raise EnvelopeError(
                    f"re-identification blob was sealed by key {blob_id.hex()}, but "
                    f"{self.describe()} holds key {reid_id.hex()}"
                )
            try:
                opened = key.decrypt(
                    sealed,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=pkcs11.GCMParams(nonce, bytes(aad), TAG_BYTES * 8),
                )
            except p11.PKCS11Error:
                raise EnvelopeError(
                    "re-identification blob does not authenticate: altered, or not this record's"
                ) from None
        return bytes(opened)

    # -- pseudonym remap keys (wrapped files, one per generation) ----------------------

    def _remap_generations(self) -> list[int]:
        """Generations whose wrapped remap key is in the folder (listed afresh each call)."""
        return remap_generations(self.path, _WRAPPED_SUFFIX, f"{self.describe()} ({self.path})")

    def pseudonym_remap_keys(self) -> tuple[bytes, ...]:
        """Remap keys of generations 2..n, unwrapped by the token once each and cached;
        the folder is listed on every call, so a key another process added is seen."""
        keys = []
        with self._lock:
            for generation in self._remap_generations():
                material = self._remap_cache.get(generation)
                if material is None:
                    name = remap_key_name(generation)
                    material = self.unwrap(name, _read_private(self.wrapped_path(name), name))
                    self._remap_cache[generation] = material
                keys.append(material)
        return tuple(keys)

    def add_pseudonym_remap_key(self, material: bytes | None = None) -> int:
        """Wrap the next generation's remap key with the token's KEK and write it (0600,
        never replacing an existing file)."""
        key = new_remap_material(material)
        with self._lock:
            if not self.path.is_dir():
                raise ConfigurationError(
                    f"no wrapped keys at {self.path}: run `fivesafes keys init --keystore pkcs11`"
                )
            generation = 2 + len(self._remap_generations())
            name = remap_key_name(generation)
            try:
                create_private(self.wrapped_path(name), self.wrap(name, key))
            except FileExistsError:
                raise ConfigurationError(
                    f"{self.wrapped_path(name)} appeared meanwhile: another pseudonym "
                    "rotation is running"
                ) from None
            self._remap_cache[generation] = key
        return generation

    # -- KEK rotation (the steps keys/kek_rotation.py puts in order) -----------------

    def kek_ids(self) -> tuple[bytes | None, bytes | None]:
        """``(current, next)`` CKA_IDs; ``next`` is None unless a rotation is pending."""
        with self._lock:
            current, following = self._single_kek(KEK_LABEL), self._single_kek(KEK_NEXT_LABEL)
            return (
                None if current is None else bytes(current[Attribute.ID]),
                None if following is None else bytes(following[Attribute.ID]),
            )

    def begin_kek_rotation(self) -> bytes:
        """Generate ``fivesafes-kek-next`` (same template as the KEK) unless it exists."""
        with self._lock:
            current, following = self.kek_ids()
            if following is not None:
                return following  # an interrupted rotation: resume it
            if current is None:
                raise EnvelopeError(
                    f"{self.describe()} holds no key-encryption key ({KEK_LABEL!r}) to "
                    "rotate: run `fivesafes keys init --keystore pkcs11`"
                )
            _, kek_id = self._new_kek(KEK_NEXT_LABEL)
            return kek_id

    def finish_kek_rotation(self) -> bool:
        """Destroy the old KEK, then relabel the next one ``fivesafes-kek``.

        Called only once every wrapped file names the next KEK. A kill between the two
        steps leaves only ``fivesafes-kek-next``, which is then the current KEK (wrap and
        unwrap find it) until a rerun relabels it. False if the module refuses to change
        CKA_LABEL: the next KEK then stays the current one under its label.
        """
        with self._lock:
            following = self._single_kek(KEK_NEXT_LABEL)
            if following is None:
                return True
            next_id = bytes(following[Attribute.ID])
            require_all_rewrapped(self.path, next_id)
            for old in self._objects(KEK_LABEL, ObjectClass.SECRET_KEY):
                if not hmac.compare_digest(bytes(old[Attribute.ID]), next_id):
                    old.destroy()
            try:
                following[Attribute.LABEL] = KEK_LABEL
            except p11.PKCS11Error:
                return False
            self._kek, self._kek_id = following, next_id
            return True

    def unwrap_file(self, name: str) -> bytes:
        """The key in ``<name>.wrapped`` unwrapped by the token now (never the cache)."""
        with self._lock:
            return self.unwrap(name, _read_private(self.wrapped_path(name), name))

    def _kek_info(self, where: str) -> KeyInfo | None:
        """The KEK's status row; a pending rotation is shown in its location."""
        current = self._single_kek(KEK_LABEL)
        following = self._single_kek(KEK_NEXT_LABEL)
        shown = current if current is not None else following
        if shown is None:
            return None
        location = where
        if following is not None:
            pending = progress(self.path, bytes(following[Attribute.ID]))
            location = f"{where}; {pending.describe()}"
        return KeyInfo(
            name="kek",
            kind=KEY_KINDS["kek"],
            location=location,
            fingerprint=bytes(shown[Attribute.ID]).hex(),
            created_at=_start_date(shown),
        )

    # -- audit-signing key rotation (the steps keys/signing_rotation.py puts in order) --

    def retired_verification_keys(self) -> tuple[RetiredKey, ...]:
        """The attested retired signing keys of ``audit_signing.retired.json`` (none if absent).

        The token keeps no retired key: the attested file is what verification uses.
        """
        target = self.path / RETIRED_FILE
        if not target.exists():  # before any rotation (or on a verifier with no store)
            return ()
        return trusted_retired_keys(target, self.verification_key())

    def signing_key_created(self) -> datetime | None:
        """The current pair's CKA_START_DATE, where the module can read it back."""
        with self._lock:
            _, private = self._signing_pair()
            return _start_date(private)

    def signing_successor(self) -> bytes | None:
        """The public key of the pair a pending rotation made, or None."""
        with self._lock:
            pair = self._successor_pair()
            return None if pair is None else _raw_ed25519(bytes(pair[0][Attribute.EC_POINT]))

    def begin_signing_rotation(self) -> bytes:
        """Generate the next pair in the token (label ``SIGNING_NEXT_LABEL``); its public key."""
        with self._lock:
            public, _ = self._new_signing_pair(SIGNING_NEXT_LABEL)
            return _raw_ed25519(bytes(public[Attribute.EC_POINT]))

    def sign_as_successor(self, message: bytes) -> bytes:
        """A signature by the pending next pair (it attests the current key's retirement)."""
        with self._lock:
            pair = self._successor_pair()
            if pair is None:
                raise ConfigurationError(f"{self.describe()} holds no pending signing pair")
            return bytes(pair[1].sign(bytes(message), mechanism=Mechanism.EDDSA))

    def finish_signing_rotation(self, step: Callable[[str], None] = lambda _: None) -> bool:
        """Destroy the old pair and relabel the next one; False if there was nothing to do.

        The pair is told apart by CKA_ID, not label, so a rerun after a crash between any
        two of these steps finds the next pair (by either label) and completes them.
        """
        with self._lock:
            pair = self._successor_pair()
            if pair is None:
                return False
            next_id = bytes(pair[1][Attribute.ID])
            for obj in self._objects(SIGNING_LABEL):
                if bytes(obj[Attribute.ID]) != next_id:
                    obj.destroy()
                    step("destroyed")
            for obj in pair:
                obj[Attribute.LABEL] = SIGNING_LABEL
                step("relabelled")
            self._signing = None
            return True

    def _successor_pair(self) -> tuple[Any, Any] | None:
        """The pending next pair: found by the CKA_ID of whatever still bears its label."""
        pending = self._objects(SIGNING_NEXT_LABEL)
        if not pending:
            return None
        ids = {bytes(obj[Attribute.ID]) for obj in pending}
        if len(ids) != 1:
            raise ConfigurationError(
                f"{self.describe()} holds {len(ids)} different {SIGNING_NEXT_LABEL!r} pairs"
            )
        (pair_id,) = ids
        public = list(
            self._session.get_objects(
                {Attribute.ID: pair_id, Attribute.CLASS: ObjectClass.PUBLIC_KEY}
            )
        )
        private = list(
            self._session.get_objects(
                {Attribute.ID: pair_id, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
            )
        )
        if len(public) != 1 or len(private) != 1:
            raise ConfigurationError(
                f"{self.describe()}: the pending signing pair {pair_id.hex()} is incomplete"
            )
        return public[0], private[0]

    # -- token objects ---------------------------------------------------------------

    def _objects(self, label: str, object_class: ObjectClass | None = None) -> list[Any]:
        query: dict[Attribute, Any] = {Attribute.LABEL: label}
        if object_class is not None:
            query[Attribute.CLASS] = object_class
        return list(self._session.get_objects(query))

    def _current_kek(self) -> tuple[Any, bytes]:
        """The KEK new wraps use: a pending rotation's next KEK, else the current one.

        Looked up on every call, not cached: wraps are rare, and a rotation run by another
        process (``keys rotate kek`` beside a running server) changes which KEK that is.
        """
        for label in (KEK_NEXT_LABEL, KEK_LABEL):
            found = self._objects(label, ObjectClass.SECRET_KEY)
            if len(found) > 1:
                raise EnvelopeError(f"{self.describe()} holds more than one {label!r}")
            if found:
                self._kek, self._kek_id = found[0], bytes(found[0][Attribute.ID])
                return self._kek, self._kek_id
        raise EnvelopeError(
            f"{self.describe()} holds no key-encryption key ({KEK_LABEL!r}): "
            "run `fivesafes keys init --keystore pkcs11`"
        )

    def _kek_by_id(self, kek_id: bytes) -> Any | None:
        """The current or next KEK whose CKA_ID is ``kek_id``, or None."""
        for label in (KEK_LABEL, KEK_NEXT_LABEL):
            for kek in self._objects(label, ObjectClass.SECRET_KEY):
                if hmac.compare_digest(bytes(kek[Attribute.ID]), kek_id):
                    return kek
        return None

    def _single_kek(self, label: str) -> Any | None:
        found = self._objects(label, ObjectClass.SECRET_KEY)
        if len(found) > 1:
            raise EnvelopeError(f"{self.describe()} holds more than one {label!r}")
        return found[0] if found else None

    def _signing_pair(self) -> tuple[Any, Any]:
        """The current pair, looked up on every use rather than cached: a rotation run by
        another process (the command beside a running server) replaces it in the token."""
        public = self._objects(SIGNING_LABEL, ObjectClass.PUBLIC_KEY)
        private = self._objects(SIGNING_LABEL, ObjectClass.PRIVATE_KEY)
        if len(public) != 1 or len(private) != 1:
            raise ConfigurationError(
                f"{self.describe()} holds no single audit-signing key pair "
                f"({SIGNING_LABEL!r}): run `fivesafes keys init --keystore pkcs11`"
            )
        self._signing = (public[0], private[0])
        return self._signing


#: What the token must do itself: make and use the Ed25519 pair, make the AES KEK and
#: seal with it. Checked before anything is created, so a module without EdDSA is named
#: at the ceremony instead of failing half-way or signing with something else.
REQUIRED_MECHANISMS: Final = (
    Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
    Mechanism.EDDSA,
    Mechanism.AES_KEY_GEN,
    Mechanism.AES_GCM,
)


def missing_mechanisms(available: set[Any]) -> list[str]:
    """The names of the :data:`REQUIRED_MECHANISMS` a token does not offer, in order."""
    return [m.name for m in REQUIRED_MECHANISMS if m not in available]


# -- files -------------------------------------------------------------------------------


def read_pin_file(path: Path) -> str:
    """The user PIN from a file only its owner can read (0600 or 0400), stripped.

    Every refusal names the variable, so the operator knows which setting to fix; none
    shows the file's content.
    """
    try:
        raw = read_private(
            path, what="PIN file", limit=4097, missing=f"no PIN file at {path}", modes=_PIN_MODES
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"{_PIN_VAR}: {exc}") from None
    try:
        pin = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigurationError(f"{_PIN_VAR}: {path} is not UTF-8 text") from None
    if not pin or len(raw) > 4096:
        raise ConfigurationError(f"{_PIN_VAR}: {path} holds no usable PIN")
    return pin


def _read_private(target: Path, name: str) -> bytes:
    """A wrapped blob, after checking that only its owner can read or write it."""
    missing = (
        f"wrapped key {name!r} is missing ({target}): run `fivesafes keys init "
        "--keystore pkcs11` (or set FIVESAFES_KEYSTORE_PATH)"
    )
    return read_private(target, what="wrapped key file", limit=4096, missing=missing)


def _raw_ed25519(point: bytes) -> bytes:
    """The 32 raw bytes of an Edwards CKA_EC_POINT, which modules give DER-wrapped or not."""
    if len(point) == 34 and point[:2] == b"\x04\x20":
        return point[2:]
    if len(point) == 32:
        return point
    raise ConfigurationError(f"unexpected Ed25519 public key encoding ({len(point)} bytes)")


def _today() -> date:
    return datetime.now(UTC).date()


def _start_date(obj: Any) -> datetime | None:
    """The creation date kept in CKA_START_DATE, or None where the module cannot read it.

    SoftHSM2 2.6.1 accepts CKA_START_DATE at generation but answers CKR_GENERAL_ERROR
    when it is read back; status then shows no date rather than failing.
    """
    try:
        value = obj[Attribute.START_DATE]
    except (p11.PKCS11Error, ValueError):
        return None
    if not isinstance(value, date):
        return None
    return datetime.combine(value, time(), tzinfo=UTC)
