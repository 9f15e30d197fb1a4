"""The vocabulary a fivesafes crate uses: profile, RO-Crate version, SHP and statuses.

Apart from the builder (which imports ``rocrate``) so that verifying a crate imports
nothing but the standard library, ``cryptography`` and ``rfc8785``.
"""

from __future__ import annotations

#: The profile followed: Five Safes RO-Crate 0.4 (the current release; 0.5 is a draft).
PROFILE = "https://w3id.org/5s-crate/0.4"
PROFILE_NAME = "Five Safes RO-Crate profile"
#: The RO-Crate version written (the profile asks for 1.2 or a later minor version).
RO_CRATE_VERSION = "1.2"
#: Safe Haven Provenance terms (``additionalType`` of the review phases).
SHP = "https://w3id.org/shp#"
STATUS = "http://schema.org/"
COMPLETED = STATUS + "CompletedActionStatus"
FAILED = STATUS + "FailedActionStatus"
POTENTIAL = STATUS + "PotentialActionStatus"
ACTIVE = STATUS + "ActiveActionStatus"
ACTION_STATUSES = frozenset({COMPLETED, FAILED, POTENTIAL, ACTIVE})
SHA256_TERM = "https://www.iana.org/assignments/named-information#sha-256"
