"""Key hierarchy: the key store, HKDF sub-keys, HMAC pseudonyms and envelope encryption.

Everything secret the platform uses comes from a :class:`~fivesafes.keys.store.KeyStore`.
The embedded default is a folder of key files protected by file permissions
(:class:`~fivesafes.keys.local.LocalFileKeyStore`); production sites plug in a KMS or HSM
adapter behind the same protocol, so no caller ever reads a key file itself.
"""

from fivesafes.keys.store import KEY_NAMES, InMemoryKeyStore, KeyName, KeyStore, key_id

__all__ = ["KEY_NAMES", "InMemoryKeyStore", "KeyName", "KeyStore", "key_id"]
