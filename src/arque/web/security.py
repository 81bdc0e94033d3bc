"""The dashboard's guards: the authorize hook, CSRF tokens on forms, basic auth.

- ``authorize(request, action)`` (sync or async, returns a bool) is asked
  before every view (``action="view"``) and every write (``"replay"``,
  ``"purge"``); False answers 403.
- Writes need ``allow_writes``; without it the buttons are not rendered and
  the server answers 403 to a forced POST.
- Forms carry a CSRF token that must equal the ``arque_csrf`` cookie (double
  submit; the cookie is ``SameSite=Strict`` and ``HttpOnly``).
- ``BasicAuth`` is an ASGI middleware for the standalone ``arque web``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ACTIONS",
    "CSRF_COOKIE",
    "Authorize",
    "BasicAuth",
    "check_csrf",
    "csrf_token",
    "permitted",
]

ACTIONS = ("view", "replay", "purge")
CSRF_COOKIE = "arque_csrf"
CSRF_FIELD = "csrf"

Authorize = Callable[[Request, str], "bool | Awaitable[bool]"]
"""``authorize(request, action) -> bool`` (or an awaitable of one)."""


async def permitted(authorize: Authorize | None, request: Request, action: str) -> bool:
    """Whether the hook lets ``request`` do ``action`` (no hook: yes)."""
    if authorize is None:
        return True
    answer = authorize(request, action)
    if inspect.isawaitable(answer):
        answer = await answer
    return bool(answer)


def csrf_token(request: Request) -> str:
    """The request's CSRF token: its cookie's, else a new one (set by ``remember_csrf``)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) < 32:
        token = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(32))
    return token


def remember_csrf(request: Request, response: Response) -> Response:
    """Set the cookie of a token made for this request."""
    new = request.state.__dict__.get("new_csrf")
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict",
                            path=request.scope.get("root_path") or "/",
                            secure=request.url.scheme == "https")
    return response


def check_csrf(request: Request, form: Any) -> bool:
    """Whether the form's token equals the cookie's."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get(CSRF_FIELD, ""))
    return len(cookie) >= 32 and hmac.compare_digest(cookie, sent)


class BasicAuth:
    """Answer 401 unless the request carries ``user:password`` (HTTP basic auth)."""

    def __init__(self, app: ASGIApp, user: str, password: str, realm: str = "arque") -> None:
        self._app = app
        self._expected = f"{user}:{password}".encode()
        self._realm = realm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        header = dict(scope.get("headers", ())).get(b"authorization", b"")
        if not self._valid(header):
            response = PlainTextResponse("authentication required\n", 401, headers={
                "WWW-Authenticate": f'Basic realm="{self._realm}", charset="UTF-8"'})
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _valid(self, header: bytes) -> bool:
        kind, _, value = header.partition(b" ")
        if kind.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._expected)
