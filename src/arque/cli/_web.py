"""``arque web``: serve the dashboard (``arque[web]``) with uvicorn."""

from __future__ import annotations

import os
import signal

import click

from ._base import EXIT_CODES, Settings, client_for, connection_options, fail

__all__ = ["web"]


@click.command(epilog=EXIT_CODES)
@connection_options
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--discover", is_flag=True,
              help="Show every queue found under the prefix instead of the --queue ones.")
@click.option("--allow-writes", is_flag=True,
              help="Show and accept replay and purge of dead letters (default: read-only).")
@click.option("--basic-auth", metavar="USER:PASSWORD", default=None,
              help="Require HTTP basic auth (default: $ARQUE_WEB_AUTH; none when unset).")
@click.option("--refresh", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds between live updates of the overview (0: never).")
def web(settings: Settings, port: int, host: str, discover: bool, allow_writes: bool,
        basic_auth: str | None, refresh: float) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM: queues, tasks, dead letters, workers.

    Read-only unless --allow-writes. Put it behind --basic-auth (or your own
    proxy's auth) when it listens on more than localhost.

    \b
    Examples:
      arque web --redis redis://10.0.0.5 --discover --port 8000
      ARQUE_WEB_AUTH=ops:secret arque web --queue emails --allow-writes --host 0.0.0.0
    """
    try:
        import uvicorn

        from ..web import create_app
        from ..web.security import BasicAuth
    except ImportError:  # pragma: no cover - depends on the installed extras
        fail("arque web needs the web extra: pip install 'arque[web]'")
    credentials = basic_auth or os.environ.get("ARQUE_WEB_AUTH")
    if credentials is not None and ":" not in credentials:
        raise click.BadParameter("must be USER:PASSWORD", param_hint="--basic-auth")
    client = client_for(settings)
    app = create_app(client, prefix=settings.prefix,
                     queues=None if discover else list(dict.fromkeys(settings.queues)),
                     allow_writes=allow_writes, refresh=refresh, close_client=True)
    served = app if credentials is None else BasicAuth(app, *credentials.split(":", 1))
    click.echo(f"arque dashboard of {settings.where} on http://{host}:{port}/ "
               f"({'writes allowed' if allow_writes else 'read-only'}"
               f"{', basic auth' if credentials else ''})", err=True)
    # uvicorn handles SIGINT/SIGTERM while it serves, then raises the signal again
    # for the handler it found: a quiet one makes a graceful stop exit 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    uvicorn.run(served, host=host, port=port, log_level="warning")
