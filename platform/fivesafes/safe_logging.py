"""Logging exceptions without their messages.

A driver's or library's message can quote the value it choked on (a date, a name, an NHS
number). Raw identifiers must never reach a log, so unexpected exceptions are logged by
type and code path only.
"""

from __future__ import annotations

import traceback


def safe_traceback(exc: BaseException) -> str:
    """The traceback's frames and the exception type, without the message or locals."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"{frames}{type(exc).__module__}.{type(exc).__qualname__} (message withheld)"
