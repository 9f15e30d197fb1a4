"""Email addresses, recognised by regex alone (no tldextract, so never the network)."""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern

from fivesafes.deid.recognizers.base import UkPatternRecognizer


class EmailRecognizer(UkPatternRecognizer):
    """local@domain.tld, with a top-level label of two or more letters.

    Presidio's own recogniser validates the domain with tldextract, which downloads the
    public-suffix list; for scrubbing, a plausible shape is enough (an unusual TLD must
    still be removed), so no suffix list is consulted.
    """

    ENTITY = "EMAIL"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Email",
            r"(?<![\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+'\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b",
            1.0,
        ),
    ]


class UrlRecognizer(UkPatternRecognizer):
    """Web addresses: they often carry names or record numbers in the path."""

    ENTITY = "URL"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("URL", r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)]", 0.9),
    ]
