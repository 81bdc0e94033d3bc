"""The ``arque`` command: thin, over the public API. Needs ``pip install 'arque[cli]'``."""

from __future__ import annotations

import logging

import click

from . import __version__
from .demo import DemoOptions
from .demo import run as run_demo

__all__ = ["arque"]


@click.group()
@click.version_option(__version__, prog_name="arque")
def arque() -> None:
    """arque: a reliable asyncio work queue stored in Redis."""


@arque.command()
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Run this long (default: until Ctrl-C or SIGTERM).")
@click.option("--producers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--consumers", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--working-limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="Global limit of tasks in execution.")
@click.option("--redis", "redis_url", metavar="URL", default=None,
              help="Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379 if it "
                   "answers, else an embedded redis-server).")
def demo(
    seconds: float | None, producers: int, consumers: int, working_limit: int,
    redis_url: str | None,
) -> None:
    """Producers, consumers, the sweeper and live stats on a queue of its own."""
    # Retries and dead letters are the show here, not warnings about them.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(levelname)s %(message)s")
    options = DemoOptions(seconds=seconds, producers=producers, consumers=consumers,
                          working_limit=working_limit, redis_url=redis_url)
    raise SystemExit(run_demo(options))
