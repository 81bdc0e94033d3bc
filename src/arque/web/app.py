"""The dashboard's routes: overview, queue, task, dead letters, workers; writes behind guards."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..errors import InvalidArgument
from ..queue import Arque
from ..registry import list_workers
from ..throughput import read_throughput
from . import data
from .chart import throughput_svg
from .security import Authorize, check_csrf, csrf_token, permitted, remember_csrf

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_STATES = ("pending", "delayed", "working")
_PAGE = 50
_CHART_MINUTES = 180
_MAX_SELECTED = 500


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _when(ms_or_s: float | None, ms: bool = True) -> str:
    if not ms_or_s:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms_or_s / 1000 if ms else ms_or_s))


class Dashboard:
    """The state of one dashboard app: its client, queues, guards and templates."""

    def __init__(self, redis: Any, prefix: str, queues: list[str] | None, allow_writes: bool,
                 authorize: Authorize | None, refresh: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.names = queues
        self.allow_writes = allow_writes
        self.authorize = authorize
        self.refresh = refresh
        self._queues: dict[str, Arque] = {}
        self.templates = Jinja2Templates(directory=str(_HERE / "templates"))
        self.templates.env.filters.update(age=_age, when=_when)

    def queue(self, name: str) -> Arque:
        if name not in self._queues:
            if self.names is not None and name not in self.names:
                raise HTTPException(404, f"no queue {name!r} here")
            try:
                self._queues[name] = Arque(self.redis, prefix=self.prefix, queue=name)
            except InvalidArgument as exc:
                raise HTTPException(404, str(exc)) from exc
        return self._queues[name]

    async def queue_names(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        return await data.discover_queues(self.redis, self.prefix)

    async def guard(self, request: Request, action: str) -> None:
        if action != "view" and not self.allow_writes:
            raise HTTPException(403, "this dashboard is read-only (start it with --allow-writes)")
        if not await permitted(self.authorize, request, action):
            raise HTTPException(403, f"not authorized to {action}")

    def render(self, request: Request, template: str, **context: Any) -> Response:
        context.update(allow_writes=self.allow_writes, csrf=csrf_token(request),
                       refresh=self.refresh, prefix=self.prefix)
        response = self.templates.TemplateResponse(request, template, context)
        return remember_csrf(request, response)


def _board(request: Request) -> Dashboard:
    board: Dashboard = request.app.state.board
    return board


def _cursor(request: Request) -> int:
    try:
        return max(0, int(request.query_params.get("cursor", "0")))
    except ValueError:
        raise HTTPException(400, "cursor must be a number") from None


async def overview(request: Request) -> Response:
    board = _board(request)
    await board.guard(request, "view")
    rows = [await data.gauges(board.queue(name)) for name in await board.queue_names()]
    charts = {}
    for row in rows:
        charts[row.queue] = throughput_svg(await read_throughput(board.queue(row.queue),
                                                                 _CHART_MINUTES))
    template = "_live.html" if request.query_params.get("partial") else "overview.html"
    return board.render(request, template, rows=rows, charts=charts, page="overview")


async def queue_page(request: Request) -> Response:
    board = _board(request)
    await board.guard(request, "view")
    queue = board.queue(request.path_params["queue"])
    state = request.query_params.get("state", "pending")
    if state not in _STATES:
        raise HTTPException(400, f"state must be one of {', '.join(_STATES)}")
    page = await data.page_tasks(queue, state, _cursor(request), _PAGE)
    holders: dict[str, str] = {}
    if state == "working":
        for worker in await list_workers(queue):
            holders.update(dict.fromkeys(worker.tasks, worker.name))
    gauges = await data.gauges(queue)
    return board.render(request, "queue.html", queue=queue.queue, page=page, gauges=gauges,
                        holders=holders, states=_STATES)


async def task_page(request: Request) -> Response:
    board = _board(request)
    await board.guard(request, "view")
    queue = board.queue(request.path_params["queue"])
    task = await data.read_task(queue, request.path_params["task_id"])
    if task is None:
        raise HTTPException(404, "no such task (released, purged or never enqueued)")
    return board.render(request, "task.html", queue=queue.queue, task=task)


async def failed_page(request: Request) -> Response:
    board = _board(request)
    await board.guard(request, "view")
    queue = board.queue(request.path_params["queue"])
    q = request.query_params
    if q.get("view") == "groups":
        looked, groups = await data.failed_groups(queue)
        return board.render(request, "groups.html", queue=queue.queue, looked=looked,
                            groups=groups)
    found = await data.search_failed(queue, cursor=_cursor(request), limit=_PAGE,
                                     task_id=q.get("id", "").strip(),
                                     reason=q.get("reason", "").strip(),
                                     needle=q.get("q", "").strip())
    following = None
    if found.next_cursor is not None:
        following = urlencode({**{k: v for k, v in found.query.items() if v},
                               "cursor": found.next_cursor})
    return board.render(request, "failed.html", queue=queue.queue, found=found,
                        following=following, message=q.get("message", ""))


async def failed_action(request: Request) -> Response:
    board = _board(request)
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in ("replay", "purge"):
        raise HTTPException(400, "action must be replay or purge")
    await board.guard(request, action)
    if not check_csrf(request, form):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page")
    queue = board.queue(request.path_params["queue"])
    ids = [str(v) for v in form.getlist("ids")][:_MAX_SELECTED]
    if not ids:
        raise HTTPException(400, "select at least one dead letter")
    call = queue.replay_failed if action == "replay" else queue.purge_failed
    done = sum([await call(task_id) for task_id in ids])
    verb = "replayed" if action == "replay" else "purged"
    back = request.url_for("failed", queue=queue.queue).include_query_params(
        message=f"{done} of {len(ids)} {verb}")
    return RedirectResponse(str(back), status_code=303)


async def workers_page(request: Request) -> Response:
    board = _board(request)
    await board.guard(request, "view")
    found = {name: await list_workers(board.queue(name)) for name in await board.queue_names()}
    return board.render(request, "workers.html", found=found, now=time.time())


def create_app(
    redis: Any, *, prefix: str = "arque", queues: list[str] | None = None,
    allow_writes: bool = False, authorize: Authorize | None = None, refresh: float = 5.0,
    close_client: bool = False,
) -> Starlette:
    """The dashboard as an ASGI app; mount it (``app.mount("/arque", create_app(r))``) or serve it.

    ``redis`` is a ``redis.asyncio`` client. ``queues`` lists the queues to
    show (default: those found under ``prefix`` by a bounded SCAN). Read-only
    unless ``allow_writes``; ``authorize(request, action)`` is asked before
    every view and write. Pages refresh their live parts every ``refresh``
    seconds (0: never). ``close_client`` closes ``redis`` when the app shuts
    down (its lifespan: for an app that owns its client). Needs
    ``pip install 'arque[web]'``.
    """
    board = Dashboard(redis, prefix, None if queues is None else list(queues), allow_writes,
                      authorize, refresh)
    routes = [
        Route("/", overview, name="overview"),
        Route("/workers", workers_page, name="workers"),
        Route("/queues/{queue}", queue_page, name="queue"),
        Route("/queues/{queue}/failed", failed_page, name="failed"),
        Route("/queues/{queue}/failed/actions", failed_action, methods=["POST"],
              name="failed_action"),
        Route("/queues/{queue}/tasks/{task_id:path}", task_page, name="task"),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_client:
                await redis.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.board = board
    return app
