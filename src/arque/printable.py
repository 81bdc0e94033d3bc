"""Text from the queue made safe to print: control characters escaped.

Task ids and error texts come from whoever enqueued or failed a task. Printed
raw, an escape sequence in one could rewrite an operator's terminal, a
newline could forge a log line, and a right-to-left override could make an
id read as another. Every CLI line and log line that shows one passes it
through :func:`printable` first.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable", "printable_json"]

# Controls, format characters (bidi overrides, zero-width), line and paragraph
# separators, and lone surrogates (which cannot even be encoded for output).
_ESCAPED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with each control character written as an escape, as ``repr`` writes it.

    ``"a\\x1b[2Jb"`` prints as ``a\\x1b[2Jb``; other characters, non-ASCII
    letters included, are kept as they are.
    """
    if text.isprintable():
        return text
    return "".join(_escape(char) if unicodedata.category(char) in _ESCAPED else char
                   for char in text)


def printable_json(text: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with the same escapes.

    ``json.dumps`` escapes only C0 controls; the others become ``\\uXXXX``
    escapes, which JSON reads back as the same characters.
    """
    if text.isprintable():
        return text
    return "".join(_escape_json(char) if unicodedata.category(char) in _ESCAPED else char
                   for char in text)


def _escape_json(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
