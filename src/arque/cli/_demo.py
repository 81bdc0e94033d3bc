"""``arque demo``: producers, a worker and live stats on a queue of its own."""

from __future__ import annotations

import logging

import click

from ..demo import DemoOptions
from ..demo import run as run_demo
from ._base import group_redis_url

__all__ = ["demo"]


@click.command()
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Run this long (default: until Ctrl-C or SIGTERM).")
@click.option("--producers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--consumers", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--working-limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="Global limit of tasks in execution.")
@click.option("--redis", "redis_url", metavar="URL", default=None,
              help="Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379 if it "
                   "answers, else an embedded redis-server).")
@click.pass_context
def demo(
    ctx: click.Context, seconds: float | None, producers: int, consumers: int,
    working_limit: int, redis_url: str | None,
) -> None:
    """Producers, consumers, the sweeper and live stats on a queue of its own."""
    # Retries and dead letters are the show here, not warnings about them.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(levelname)s %(message)s")
    options = DemoOptions(seconds=seconds, producers=producers, consumers=consumers,
                          working_limit=working_limit,
                          redis_url=redis_url or group_redis_url(ctx))
    raise SystemExit(run_demo(options))
