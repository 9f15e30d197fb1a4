"""App factories for the audit benchmark: the same application with and without recording.

Only `fivesafes.bench.audit` starts these (as `uvicorn --factory` subprocesses). Auditing
cannot be switched off by a setting: this module is the one way to get an unaudited app,
and it exists to measure what auditing costs.
"""

from __future__ import annotations

from fastapi import FastAPI

from fivesafes.app import create_app
from fivesafes.audit.recorder import no_audit


def audited_app() -> FastAPI:
    return create_app()


def unaudited_app() -> FastAPI:
    return create_app(audit_recorder=no_audit)
