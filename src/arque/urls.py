"""Redis URLs as arque prints them: never with a password.

Every message, log line or view that shows a Redis URL passes it through
:func:`redact` first. A password can sit in two places of a URL redis-py
accepts: the user part (``redis://user:secret@host``) and the query
(``redis://host?password=secret``); both become ``***``.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["redact"]

_HIDDEN = "***"


def redact(url: str) -> str:
    """``url`` with every password in it replaced by ``***``.

    A URL that cannot be parsed is not shown at all: it may hold a password
    in a place we cannot find.
    """
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return "<unparsable URL>"
    # Edited as text, not rebuilt: urlunsplit would drop the '//' of 'unix:///path'.
    shown = url
    if has_password:
        # Everything after the last '@' is the host as written (IPv6 brackets, port, none).
        user_info, _, host = parts.netloc.rpartition("@")
        netloc = f"{user_info.partition(':')[0]}:{_HIDDEN}@{host}"
        shown = shown.replace(f"//{parts.netloc}", f"//{netloc}", 1)
    if parts.query:
        query = "&".join(_redact_field(field) for field in parts.query.split("&"))
        shown = shown.replace(f"?{parts.query}", f"?{query}", 1)
    return shown


def _redact_field(field: str) -> str:
    name, equals, _ = field.partition("=")
    if equals and "password" in unquote(name).lower():
        return f"{name}={_HIDDEN}"
    return field
