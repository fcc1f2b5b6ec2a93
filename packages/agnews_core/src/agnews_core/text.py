"""The one function that turns an article into model input, shared by training and serving.

AG News carries artefacts of its scraping: HTML entities that lost their ampersand (`#39;`, ` quot;`),
backslashes standing for line breaks, stray tags and runs of spaces. Training and serving both call
`model_input`, so a model never sees text shaped differently from what it was trained on.
"""

from __future__ import annotations

import html
import re

# "Iran #39;s": the scraper put a space before the apostrophe entity; glue it back ("Iran's").
_SPACED_APOSTROPHE = re.compile(r"(?<=\w) (?:&?#39;|&?#146;)(?=\w)")
# "#39;" / "#36;" numeric entities that lost their "&" (and keep those that did not).
_NUMERIC_ENTITY = re.compile(r"&?#(\d{1,5});")
# " quot;" / "amp;" named entities that lost their "&".
_NAMED_ENTITY = re.compile(r"(?<![\w&])(quot|amp|lt|gt|apos|nbsp);", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]{1,200}>")
_BACKSLASH = re.compile(r"\\+")
_SPACES = re.compile(r"\s+")
# What no tokenizer should see: lone surrogates (JSON "\ud800" decodes to one; UTF-8 cannot encode it, so
# tokenizers raise), C0/C1 controls and DEL (NUL included), and noncharacters. Each becomes a space.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def _numeric(match: re.Match[str]) -> str:
    code = int(match.group(1))
    if 128 <= code <= 159:
        # Windows-1252 code points written as Latin-1 numbers (#145; = left single quote).
        try:
            return bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            return " "
    if code < 32 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return " "  # controls, out of range, and surrogates ("#55296;" really occurs in AG News) are no text
    return chr(code)


def scrub(text: str) -> str:
    """Only the unsafe characters replaced (by spaces): what request schemas apply to every incoming string,
    so a request can always be re-encoded as UTF-8 JSON (a lone surrogate cannot)."""
    return _UNSAFE.sub(" ", text)


def clean_text(text: str) -> str:
    """Remove AG News encoding artefacts and normalise whitespace; the result is valid, printable UTF-8."""
    text = _UNSAFE.sub(" ", text)
    text = _SPACED_APOSTROPHE.sub("'", text)
    text = _NUMERIC_ENTITY.sub(_numeric, text)
    text = _NAMED_ENTITY.sub(lambda m: "&" + m.group(1).lower() + ";", text)
    text = html.unescape(text)
    text = _TAG.sub(" ", text)
    text = _BACKSLASH.sub(" ", text)
    text = _UNSAFE.sub(" ", text)  # again: html.unescape can produce controls too (&#x7f; and friends)
    return _SPACES.sub(" ", text).strip()


def model_input(title: str | None, description: str | None = None) -> str:
    """Model input for an article: title + " " + description, cleaned."""
    return clean_text(f"{title or ''} {description or ''}")
