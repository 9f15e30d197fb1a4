"""Sign-in with the organisation's identity providers (OpenID Connect): issue 16."""
