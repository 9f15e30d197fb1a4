"""A test OpenID Connect identity provider, served over real HTTP on loopback (issue 16).

Fixtures (tests/oidc_idp/fixtures.py, registered for every tier): ``oidc_idp`` ("testidp",
RS256) and ``second_oidc_idp`` ("uni", ES256, another issuer), one server per test module,
reset before each test; ``oidc_idp_server`` / ``second_oidc_idp_server`` are the same
servers unreset, for a module-scoped platform process. Typical use::

    idp.redirect_uris.append(f"{base}/web/login/oidc/{idp.name}/callback")
    policy = identity_policy_file(tmp_path, idp)      # FIVESAFES_IDENTITY_POLICY
    env.update(idp.client_secret_env())               # FIVESAFES_OIDC_TESTIDP_CLIENT_SECRET
    idp.set_user("ada-0001", roles=["FiveSafes.Admin"])
    token = idp.mint()                                # an API bearer token
    code = idp.wait_for_device_request(); idp.approve_device(code)   # a CLI sign-in

Endpoints (all under ``idp.issuer``, listed by discovery): ``/.well-known/openid-
configuration``, ``/keys``, ``/authorize``, ``/token``, ``/devicecode``, ``/device`` (the
verification page), ``/logout`` (end session, unless ``end_session=False``).
"""

from tests.oidc_idp.fixtures import identity_policy_file
from tests.oidc_idp.server import TestIdentityProvider
from tests.oidc_idp.state import IdpUser

__all__ = ["IdpUser", "TestIdentityProvider", "identity_policy_file"]
