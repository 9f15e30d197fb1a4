"""The one rule for what an input directory may hold, local or on a Hadoop file system.

A directory must hold data files of one format (by extension) and nothing else but hidden
or ``_``-prefixed bookkeeping files (Spark's and Hadoop's). Anything else is refused,
naming it, rather than silently skipped: a job that quietly read two files of three would
hand over an extract with patients missing. The driver applies this rule to both kinds of
listing, so a local directory and an ``hdfs://`` one can never be judged differently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from fivesafes.deid.io.sources import input_format
from fivesafes.errors import InputFileError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ListedEntry(Generic[T]):
    """One entry of a directory listing: its name, whether it is a regular file, where it
    is (for error messages) and what the caller keeps for it."""

    name: str
    is_file: bool
    location: str
    item: T


def is_bookkeeping(name: str) -> bool:
    """Spark's and Hadoop's own files (``_SUCCESS``, ``.crc`` files...), never data."""
    return name.startswith((".", "_"))


def data_entries(entries: Iterable[ListedEntry[T]], directory: str) -> list[T]:
    """The data files of a directory listing in name order, or the reason it is refused."""
    kept = sorted((e for e in entries if not is_bookkeeping(e.name)), key=lambda e: e.name)
    for entry in kept:
        if not entry.is_file:
            raise InputFileError("not a regular file in the input directory", file=entry.location)
    if not kept:
        raise InputFileError("input directory holds no data files", file=directory)
    formats = {input_format(entry.name) for entry in kept}
    if len(formats) > 1:
        raise InputFileError(
            "input directory mixes formats (" + ", ".join(sorted(formats)) + "): one per job",
            file=directory,
        )
    return [entry.item for entry in kept]
