"""The ``arque`` command: thin, over the public API. Needs ``pip install 'arque[cli]'``.

One module per command (``_worker``, ``_workers``, ``_stats``, ``_failed``,
``_config``, ``_tasks``, ``_schedules``, ``_life``, ``_metrics``, ``_web``,
``_demo``, ``_acl``); ``_base`` holds what they share: the connection options,
exit codes and the one-line errors. See ``docs/cli.md``.
"""

from __future__ import annotations

import click

from .. import __version__
from ._acl import acl
from ._base import EXIT_CODES, ArqueGroup, group_options
from ._config import config
from ._demo import demo
from ._failed import failed
from ._life import cancel, result, task
from ._metrics import metrics
from ._schedules import schedules
from ._stats import stats
from ._tasks import enqueue, sweep
from ._web import web
from ._worker import worker
from ._workers import workers

__all__ = ["arque"]


@click.group(cls=ArqueGroup, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="arque")
@group_options
def arque() -> None:
    """arque: a reliable asyncio work queue stored in Redis.

    --redis, --prefix and --queue given here apply to every command; a
    command's own ones win.
    """


for _command in (worker, workers, stats, failed, config, enqueue, sweep, schedules, task, cancel,
                 result, metrics, web, demo, acl):
    arque.add_command(_command)
