"""Discovery: fetched lazily from the issuer, validated, cached; failures retried."""

from __future__ import annotations

import httpx
import pytest

from fivesafes.errors import ServiceUnavailableError
from fivesafes.identity.oidc.discovery import MAX_DOCUMENT_BYTES, ProviderMetadata
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import RefusalReason, TokenRefused
from tests.unit.identity_oidc.support import (
    ISSUER,
    Clock,
    FakeIdp,
    Signer,
    mint,
    policy,
    provider_entry,
)


def unavailable(providers: OidcProviders) -> ServiceUnavailableError:
    with pytest.raises(ServiceUnavailableError) as caught:
        providers.metadata("trust")
    assert caught.value.code == "provider_unavailable"
    return caught.value


def test_metadata_is_read_from_the_issuers_discovery_document(clock: Clock) -> None:
    idp = FakeIdp()
    metadata = idp.providers(clock).metadata("trust")
    assert metadata == ProviderMetadata(
        issuer=ISSUER,
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token",
        jwks_uri=f"{ISSUER}/keys",
        device_authorization_endpoint=f"{ISSUER}/devicecode",
        end_session_endpoint=f"{ISSUER}/logout",
    )


def test_metadata_is_fetched_once(clock: Clock) -> None:
    idp = FakeIdp()
    providers = idp.providers(clock)
    assert idp.discovery_requests == 0
    first = providers.metadata("trust")
    assert providers.metadata("trust") is first
    assert idp.discovery_requests == 1


def test_optional_endpoints_may_be_absent(clock: Clock) -> None:
    idp = FakeIdp(
        extra_document={"device_authorization_endpoint": None, "end_session_endpoint": None}
    )
    metadata = idp.providers(clock).metadata("trust")
    assert metadata.device_authorization_endpoint is None
    assert metadata.end_session_endpoint is None


def test_a_document_naming_another_issuer_is_refused(clock: Clock) -> None:
    idp = FakeIdp(document_issuer="https://evil.example/tenant/v2.0")
    error = unavailable(idp.providers(clock))
    assert "different issuer" in error.message


def test_a_document_issuer_with_a_trailing_slash_is_the_same_issuer(clock: Clock) -> None:
    idp = FakeIdp(document_issuer=ISSUER + "/")
    assert idp.providers(clock).metadata("trust").issuer == ISSUER


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("token_endpoint", None),
        ("authorization_endpoint", 17),
        ("jwks_uri", None),
        ("token_endpoint", "http://login.example/token"),  # plain http off loopback
        ("end_session_endpoint", "javascript:alert(1)"),
    ],
)
def test_a_document_with_a_bad_endpoint_is_refused(clock: Clock, key: str, value: object) -> None:
    idp = FakeIdp(extra_document={key: value})
    assert key in unavailable(idp.providers(clock)).message


def test_discovery_down_then_up(clock: Clock) -> None:
    idp = FakeIdp(down=True)
    providers = idp.providers(clock)
    assert "HTTP 503" in unavailable(providers).message
    idp.down = False
    assert providers.metadata("trust").token_endpoint == f"{ISSUER}/token"
    assert idp.discovery_requests == 2  # the failure was not cached


def test_unreachable_provider_names_the_failure_not_the_url(clock: Clock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    providers = OidcProviders(
        policy(provider_entry()),
        http=httpx.Client(transport=httpx.MockTransport(refuse)),
        clock=clock,
    )
    error = unavailable(providers)
    assert "ConnectTimeout" in error.message


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>sign in</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(302, headers={"location": "https://evil.example/"}),
        httpx.Response(200, content=b"{" + b" " * (MAX_DOCUMENT_BYTES + 1) + b"}"),
    ],
)
def test_what_is_not_a_discovery_document_is_refused(
    clock: Clock, response: httpx.Response
) -> None:
    providers = OidcProviders(
        policy(provider_entry()),
        http=httpx.Client(transport=httpx.MockTransport(lambda request: response)),
        clock=clock,
    )
    unavailable(providers)


def test_only_the_configured_issuers_document_is_asked_for(clock: Clock) -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(503)

    providers = OidcProviders(
        policy(provider_entry()),
        http=httpx.Client(transport=httpx.MockTransport(record)),
        clock=clock,
    )
    unavailable(providers)
    assert seen == [f"{ISSUER}/.well-known/openid-configuration"]


def test_a_token_is_refused_while_discovery_is_down_then_accepted(
    rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key], down=True)
    providers = idp.providers(clock)
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(mint(rsa_key))
    assert caught.value.reason is RefusalReason.PROVIDER_UNAVAILABLE
    idp.down = False
    clock.advance(30)
    assert providers.verify_access_token(mint(rsa_key, now=clock.now))


def test_with_a_jwks_file_discovery_needs_no_jwks_uri(clock: Clock) -> None:
    idp = FakeIdp(extra_document={"jwks_uri": None})
    providers = OidcProviders(
        policy(provider_entry(jwks_file=__file__)),  # any existing file passes config
        http=idp.client(),
        clock=clock,
    )
    assert providers.metadata("trust").jwks_uri is None
