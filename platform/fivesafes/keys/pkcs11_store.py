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
import stat
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_named_curve_parameters

from fivesafes.errors import ConfigurationError
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.store import (
    KEY_KINDS,
    MEMORY_KEY_NAMES,
    KeyInfo,
    MemoryKeyName,
    key_id,
    public_key_fingerprint,
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
SIGNING_LABEL: Final = "fivesafes-audit-signing"
#: RFC 8410 object identifier of Ed25519, the EC_PARAMS of an Edwards key.
ED25519_OID: Final = "1.3.101.112"
MEMORY_KEYS: Final = MEMORY_KEY_NAMES
_WRAPPED_SUFFIX: Final = ".wrapped"
_MODULE_VAR: Final = "FIVESAFES_PKCS11_MODULE"
_TOKEN_VAR: Final = "FIVESAFES_PKCS11_TOKEN"  # noqa: S105 (a variable name, not a secret)
_PIN_VAR: Final = "FIVESAFES_PKCS11_PIN_FILE"


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
            self._session.close()

    def describe(self) -> str:
        return f"PKCS#11 token {self.token_label!r} ({self.module})"

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
            existing = [label for label in (KEK_LABEL, SIGNING_LABEL) if self._objects(label)]
            existing += [p.name for p in map(self.wrapped_path, MEMORY_KEYS) if p.exists()]
            if existing:
                raise ConfigurationError(
                    f"{self.describe()} already holds {', '.join(existing)}; refusing to "
                    "create keys again (replacing the pseudonym key breaks linkage with "
                    "earlier extracts)"
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
                    _write_private(target, self.wrap(name, material))
                    written.append(target)
                    self._secrets[name] = material
            except BaseException:
                self._rollback(written)
                raise
        return self.status()

    def _generate_kek(self) -> None:
        kek_id = secrets.token_bytes(KEK_ID_BYTES)
        self._kek = self._session.generate_key(
            KeyType.AES,
            256,
            store=True,
            label=KEK_LABEL,
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
        self._kek_id = kek_id

    def _generate_signing_pair(self) -> None:
        pair_id = secrets.token_bytes(KEK_ID_BYTES)
        public, private = self._session.generate_keypair(
            KeyType.EC_EDWARDS,
            0,
            store=True,
            label=SIGNING_LABEL,
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
        self._signing = (public, private)

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
            kek, kek_id = self._current_kek()
            if not hmac.compare_digest(blob_kek, kek_id):
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
        where = f"PKCS#11 token {self.token_label!r}, non-extractable"
        infos: list[KeyInfo] = []
        with self._lock:
            kek_objects = self._objects(KEK_LABEL, ObjectClass.SECRET_KEY)
            signing = self._objects(SIGNING_LABEL, ObjectClass.PRIVATE_KEY)
            if kek_objects:
                kek = kek_objects[0]
                infos.append(
                    KeyInfo(
                        name="kek",
                        kind=KEY_KINDS["kek"],
                        location=where,
                        fingerprint=bytes(kek[Attribute.ID]).hex(),
                        created_at=_start_date(kek),
                    )
                )
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
        return infos

    # -- token objects ---------------------------------------------------------------

    def _objects(self, label: str, object_class: ObjectClass | None = None) -> list[Any]:
        query: dict[Attribute, Any] = {Attribute.LABEL: label}
        if object_class is not None:
            query[Attribute.CLASS] = object_class
        return list(self._session.get_objects(query))

    def _current_kek(self) -> tuple[Any, bytes]:
        if self._kek is None or self._kek_id is None:
            found = self._objects(KEK_LABEL, ObjectClass.SECRET_KEY)
            if not found:
                raise EnvelopeError(
                    f"{self.describe()} holds no key-encryption key ({KEK_LABEL!r}): "
                    "run `fivesafes keys init --keystore pkcs11`"
                )
            if len(found) > 1:
                raise EnvelopeError(f"{self.describe()} holds more than one {KEK_LABEL!r}")
            self._kek, self._kek_id = found[0], bytes(found[0][Attribute.ID])
        return self._kek, self._kek_id

    def _signing_pair(self) -> tuple[Any, Any]:
        if self._signing is None:
            public = self._objects(SIGNING_LABEL, ObjectClass.PUBLIC_KEY)
            private = self._objects(SIGNING_LABEL, ObjectClass.PRIVATE_KEY)
            if len(public) != 1 or len(private) != 1:
                raise ConfigurationError(
                    f"{self.describe()} holds no single audit-signing key pair "
                    f"({SIGNING_LABEL!r}): run `fivesafes keys init --keystore pkcs11`"
                )
            self._signing = (public[0], private[0])
        return self._signing


# -- files -------------------------------------------------------------------------------


def read_pin_file(path: Path) -> str:
    """The user PIN from a file only its owner can read (0600 or 0400), stripped."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ConfigurationError(f"{_PIN_VAR}: no PIN file at {path}") from None
    except OSError as exc:
        raise ConfigurationError(f"{_PIN_VAR}: cannot open {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"{_PIN_VAR}: {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode not in (0o600, 0o400):
            raise ConfigurationError(
                f"{_PIN_VAR}: {path} has mode {mode:04o}; it must be 0600 or 0400 "
                f"(run `chmod 600 {path}`)"
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ConfigurationError(f"{_PIN_VAR}: {path} is owned by another user")
        raw = os.read(fd, 4097)
    finally:
        os.close(fd)
    try:
        pin = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigurationError(f"{_PIN_VAR}: {path} is not UTF-8 text") from None
    if not pin or len(raw) > 4096:
        raise ConfigurationError(f"{_PIN_VAR}: {path} holds no usable PIN")
    return pin


def _write_private(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` (0600) atomically: a crash leaves no half-written key."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, target)  # unlike rename, never replaces an existing key
    finally:
        temporary.unlink()
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_private(target: Path, name: str) -> bytes:
    """A wrapped blob, after checking that only its owner can read or write it."""
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ConfigurationError(
            f"wrapped key {name!r} is missing ({target}): run `fivesafes keys init "
            "--keystore pkcs11` (or set FIVESAFES_KEYSTORE_PATH)"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot open {target}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode) or mode & 0o077:
            raise ConfigurationError(
                f"wrapped key file {target} must be a regular file of mode 0600 "
                f"(it is {mode:04o}; run `chmod 600 {target}`)"
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ConfigurationError(f"wrapped key file {target} is owned by another user")
        return os.read(fd, 4096)
    finally:
        os.close(fd)


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
