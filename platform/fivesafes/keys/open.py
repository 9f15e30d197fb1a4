"""Open the key store the settings name: the one place a store is chosen.

``FIVESAFES_KEYSTORE=local`` (the embedded default) is the folder of key files;
``pkcs11`` is an HSM token. The PKCS#11 adapter is imported only when chosen, so a site
without python-pkcs11 (the ``hsm`` extra) runs the local store unchanged.
"""

from __future__ import annotations

from fivesafes.config import Settings
from fivesafes.errors import ConfigurationError
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.store import KeyStore


def open_keystore(settings: Settings) -> KeyStore:
    """The configured key store; :class:`ConfigurationError` naming what stops it opening."""
    if settings.keystore == "local":
        return LocalFileKeyStore(settings.keystore_path)
    if settings.keystore == "pkcs11":
        try:
            from fivesafes.keys.pkcs11_store import Pkcs11KeyStore  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigurationError(
                f"FIVESAFES_KEYSTORE=pkcs11 needs python-pkcs11: install fivesafes[hsm] ({exc.msg})"
            ) from None
        return Pkcs11KeyStore.from_settings(settings)
    raise ConfigurationError(f"FIVESAFES_KEYSTORE: unknown key store {settings.keystore!r}")
