"""Email addresses, recognised by regex alone (no tldextract, so never the network)."""

from __future__ import annotations

import re
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


# Top-level domains people write without a scheme ("facebook.com/kerry.smith82",
# "kerrysblog.wordpress.com"); file extensions (.pdf, .doc) are deliberately absent.
_TLDS = (
    r"(?:com|net|org|info|biz|io|me|co|uk|ie|eu|de|fr|es|it|nl|pl|ro|pt|in|ng|pk|au|ca|nz|za"
    r"|tv|ly|gl|gg|app|blog|online|site|website|social|page|link|xyz|club|live|news|shop"
    r"|store|tech|dev|ai|us|ac\.uk|co\.uk|org\.uk|nhs\.uk|gov\.uk|net\.uk|me\.uk|ltd\.uk)"
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"


class UrlRecognizer(UkPatternRecognizer):
    """Web addresses, with or without a scheme, and social-media handles.

    They often carry names or record numbers in the path ("instagram.com/kerry_smith82").
    A bare domain needs a known top-level domain and a letter in its name, so "e.g." and
    "2.5.1" stay; a handle needs an "@" not preceded by a word (that is an email).
    """

    ENTITY = "URL"
    FLAGS = re.IGNORECASE
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("URL", r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)]", 0.9),
        Pattern(
            "domain without a scheme",
            rf"(?<![\w@.\-/])(?:{_LABEL}\.)+{_TLDS}\b(?![.\-]\w|@)(?:[/?#][^\s<>\"']*[^\s<>\"'.,;:!?)])?",
            0.8,
        ),
        Pattern(
            "social handle", r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{1,28}[A-Za-z0-9_])", 0.75
        ),
    ]

    def invalidate_result(self, pattern_text: str) -> bool | None:
        host = pattern_text.split("/", 1)[0]
        if pattern_text.startswith("@"):
            return pattern_text[1:].isdigit()
        return not any(c.isalpha() for c in host.rsplit(".", 1)[0])
