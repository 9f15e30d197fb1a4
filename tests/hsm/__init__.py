"""A real SoftHSM2 token for tests of the PKCS#11 key store (fixtures in ``fixtures.py``)."""
