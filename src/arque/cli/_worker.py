"""``arque worker MODULE:HANDLER``: run a handler on one or more queues until SIGTERM."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import click
import redis.asyncio as aioredis

from ..queue import Arque
from ..worker import Handler, Health, Worker
from ._base import EXIT_CODES, CliError, ExitCode, Settings, connection_options, run

__all__ = ["load_handler", "worker"]

_LOG_LEVELS = ["debug", "info", "warning", "error"]


@click.command(epilog=EXIT_CODES)
@click.argument("handler_ref", metavar="MODULE:HANDLER")
@connection_options
@click.option("--concurrency", type=click.IntRange(min=1), default=10, show_default=True,
              help="Handlers running at once in this worker.")
@click.option("--working-limit", type=click.IntRange(min=0), default=None,
              help="Global limit of working tasks per queue, shared by every worker; stored "
                   "with the queue (default: the queue's stored limit, else "
                   f"{Arque.working_limit}; 0: none).")
@click.option("--task-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS",
              help="Execution limit: a handler running longer is cancelled and its attempt "
                   "fails (default: the task's lease, its task_timeout).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, metavar="N",
              help="Tasks taken by one fetch and released by one call (default: the "
                   "concurrency, at most 100).")
@click.option("--sweep-interval", type=click.FloatRange(min=0), default=5.0, show_default=True,
              metavar="SECONDS",
              help="Seconds between two sweeps of each queue (0: never; another process "
                   "sweeps).")
@click.option("--schedules/--no-schedules", default=True, show_default=True,
              help="Fire the due schedules of the queues (each run once, whatever the "
                   "number of workers).")
@click.option("--grace-period", type=click.FloatRange(min=0), default=25.0, show_default=True,
              help="Seconds in-flight handlers get to finish after SIGTERM/SIGINT; then "
                   "their tasks are handed back.")
@click.option("--health-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Touch this file while the worker's loop turns (also while Redis fails).")
@click.option("--health-port", type=click.IntRange(0, 65535), default=None,
              help="Serve GET /healthz and /readyz on this port, and /metrics (Prometheus) "
                   "when prometheus-client is installed (arque[metrics]).")
@click.option("--log-level", type=click.Choice(_LOG_LEVELS, case_sensitive=False),
              default="info", show_default=True)
def worker(
    settings: Settings, handler_ref: str, concurrency: int, working_limit: int | None,
    task_timeout: float | None, batch_size: int | None, sweep_interval: float,
    schedules: bool, grace_period: float, health_file: Path | None, health_port: int | None,
    log_level: str,
) -> None:
    """Run MODULE:HANDLER on the tasks of the queues until SIGTERM or SIGINT.

    HANDLER is ``async def handler(data, ctx)``, imported from MODULE with the
    current directory on sys.path. Returning releases the task; raising
    requeues it with a backoff; ``arque.worker.Fail`` dead-letters it. The
    first SIGTERM/SIGINT stops taking work and lets in-flight handlers finish
    (exit 0); a second one exits at once (exit 1), leaving in-flight tasks to
    their leases. Redis failures are ridden out; a worker loop that keeps
    failing shuts the worker down (exit 1). Limits not given here
    (requeue_limit, max_failed, result_ttl, ...) are the queue's stored ones:
    see `arque config`. The worker fires the queues' schedules (`arque
    schedules`) and keeps what the handler returns when the queue keeps
    results.

    \b
    Example:
      arque worker myapp.tasks:handle --queue emails --queue sms --concurrency 50
    """
    handler = load_handler(handler_ref)
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics = health_port is not None and importlib.util.find_spec("prometheus_client") is not None
    health = None
    if health_file is not None or health_port is not None:
        health = Health(file=health_file, port=health_port)

    async def serve(client: aioredis.Redis) -> int:
        queues = [Arque(client, prefix=settings.prefix, queue=name, working_limit=working_limit)
                  for name in dict.fromkeys(settings.queues)]
        runner = Worker(queues, handler, concurrency=concurrency, grace_period=grace_period,
                        health=health, task_timeout=task_timeout, batch_size=batch_size,
                        sweep_interval=sweep_interval or None, metrics=metrics,
                        schedules=schedules)
        return await runner.serve()

    sys.exit(run(settings, serve))


def load_handler(ref: str) -> Handler:
    """Import ``module:attr`` (``attr`` may be dotted) and check that it is an async callable.

    Every failure is a :class:`CliError` with exit code 4.
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        _bad(f"{ref!r} is not MODULE:HANDLER (e.g. myapp.tasks:handle)")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # as gunicorn and uvicorn do: the app is where you stand
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            _bad(f"cannot import {module_name!r}: no module named {exc.name!r} "
                 f"(looked in {cwd} and sys.path)")
        _bad(f"importing {module_name!r} failed: {exc}{_where(exc)}")
    except Exception as exc:  # noqa: BLE001 - any error of the user's module, told in one line
        _bad(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}{_where(exc)}")
    try:
        handler = functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        _bad(f"module {module_name!r} has no attribute {attr!r}")
    if not callable(handler):
        _bad(f"{ref} is a {type(handler).__name__}, not an async function")
    if not (inspect.iscoroutinefunction(handler)
            or inspect.iscoroutinefunction(handler.__call__)):
        _bad(f"{ref} is not an async function: define it as `async def handler(data, ctx)`")
    try:
        inspect.signature(handler).bind(None, None)
    except TypeError:
        _bad(f"{ref} must accept two arguments: (data, ctx)")
    except ValueError:  # no signature to read: let the call tell
        pass
    result: Handler = handler
    return result


def _where(exc: BaseException) -> str:
    """Where the user's code raised ``exc``: its innermost frame outside importlib."""
    if isinstance(exc, SyntaxError):  # its message names the file and line already
        return ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen")]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _bad(message: str) -> NoReturn:
    raise CliError(message, ExitCode.BAD_HANDLER)
