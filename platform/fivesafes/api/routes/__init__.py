"""Routers, one module per domain; :func:`install` mounts them all."""

from __future__ import annotations

from fastapi import FastAPI

from fivesafes.api.routes import (
    access,
    audit,
    closeout,
    crates,
    datasets,
    handovers,
    health,
    identity,
    register,
    reidentification,
    releases,
    reviews,
)


def install(app: FastAPI) -> None:
    """Mount every API router on ``app`` (the web pages are mounted beside them)."""
    for module in (
        health,
        identity,
        audit,
        access,
        datasets,
        handovers,
        releases,
        reviews,
        reidentification,
        register,
        closeout,
        crates,
    ):
        app.include_router(module.router)
