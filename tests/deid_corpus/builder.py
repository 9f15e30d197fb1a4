"""Composes a document piece by piece and records gold spans as it goes.

Offsets are never computed after the fact (no ``text.find``): every identifier is appended
through :meth:`DocBuilder.add`, which knows the current length of the text, so a span's
text is always exactly ``text[start:end]`` even when the same string occurs twice.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

LABELS = (
    "PERSON",
    "DATE",
    "LOCATION",
    "ADDRESS",
    "POSTCODE",
    "PHONE",
    "EMAIL",
    "URL",
    "NHS_NUMBER",
    "MRN",
    "ID",
    "ORGANISATION",
)


class Span(NamedTuple):
    """A gold identifier: 0-based character offsets, end exclusive."""

    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class Ident:
    """An identifier piece: its text becomes a gold span with ``label``."""

    text: str
    label: str

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label}")
        if not self.text or self.text != self.text.strip():
            raise ValueError(f"identifier text must be non-empty and trimmed: {self.text!r}")


@dataclass(frozen=True, slots=True)
class Keep:
    """A clinical phrase that must survive scrubbing verbatim (a gold keep phrase)."""

    text: str


Piece = str | Ident | Keep
Pieces = Piece | Sequence[Piece]


@dataclass(frozen=True, slots=True)
class CorpusDoc:
    """One generated document with its patient's structured row and its gold."""

    shape: str
    row: dict[str, str]
    text: str
    spans: tuple[Span, ...]
    keep: tuple[str, ...]
    keep_offsets: tuple[tuple[int, int], ...]


def flatten(value: Pieces) -> list[Piece]:
    """One piece or a sequence of pieces, as a list."""
    if isinstance(value, str | Ident | Keep):
        return [value]
    return list(value)


def lower(value: Pieces) -> list[Piece]:
    """The same pieces in lower case (clipped notes are typed that way)."""
    out: list[Piece] = []
    for piece in flatten(value):
        if isinstance(piece, Ident):
            out.append(Ident(piece.text.lower(), piece.label))
        elif isinstance(piece, Keep):
            out.append(piece)  # clinical phrases keep their own case
        else:
            out.append(piece.lower())
    return out


class DocBuilder:
    """Appends text, identifiers and keep phrases; knows every offset."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.spans: list[Span] = []
        self.keep: list[tuple[int, int, str]] = []

    def add(self, value: Pieces) -> DocBuilder:
        """Append pieces in order."""
        for piece in flatten(value):
            if isinstance(piece, Ident):
                self.spans.append(Span(self._length, self._length + len(piece.text), piece.label))
                self._append(piece.text)
            elif isinstance(piece, Keep):
                self.keep.append((self._length, self._length + len(piece.text), piece.text))
                self._append(piece.text)
            else:
                self._append(piece)
        return self

    def f(self, template: str, **slots: Pieces) -> DocBuilder:
        """Append ``template`` with ``{name}`` slots filled by pieces (``{{`` escapes)."""
        for literal, field, _spec, _conv in string.Formatter().parse(template):
            if literal:
                self._append(literal)
            if field is not None:
                self.add(slots[field])
        return self

    def line(self, template: str = "", **slots: Pieces) -> DocBuilder:
        """:meth:`f` followed by a newline."""
        return self.f(template, **slots).nl()

    def lines(self, rows: Iterable[Pieces]) -> DocBuilder:
        """Each item on a line of its own (address blocks, staff lists)."""
        for row in rows:
            self.add(row).nl()
        return self

    def nl(self, count: int = 1) -> DocBuilder:
        return self._append("\n" * count)

    def _append(self, text: str) -> DocBuilder:
        self._parts.append(text)
        self._length += len(text)
        return self

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def build(self, shape: str, row: dict[str, str]) -> CorpusDoc:
        """The finished document (trailing blank space trimmed; spans never reach it)."""
        text = self.text.rstrip()
        spans = tuple(sorted(self.spans))
        keep = tuple(sorted(self.keep))
        if any(s.end > len(text) for s in spans) or any(k[1] > len(text) for k in keep):
            raise AssertionError("a span ran past the trimmed text")
        return CorpusDoc(
            shape=shape,
            row=row,
            text=text,
            spans=spans,
            keep=tuple(k[2] for k in keep),
            keep_offsets=tuple((k[0], k[1]) for k in keep),
        )
