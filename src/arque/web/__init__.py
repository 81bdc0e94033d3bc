"""The arque dashboard: an ASGI app (Starlette), server-rendered, no JavaScript build step.

::

    from arque.web import create_app
    app.mount("/arque", create_app(redis, allow_writes=True, authorize=is_admin))

or ``arque web --redis URL --port 8000``. Needs ``pip install 'arque[web]'``.
See ``docs/observability.md``.
"""

from .app import create_app as create_app
from .security import ACTIONS as ACTIONS

__all__ = ["ACTIONS", "create_app"]
