"""Clients from URLs, a Sentinel URL included.

``redis://``, ``rediss://`` (TLS; ``?ssl_ca_certs=...&ssl_certfile=...``) and
``unix://`` URLs go to redis-py's ``from_url``. A Sentinel URL names the
sentinels and the service; the client asks them where the master is, and
again after a failover::

    redis+sentinel://[[user]:password@]host:port[,host:port...]/SERVICE[/DB]
                     [?sentinel_username=...&sentinel_password=...]

The user and password are the master's; the sentinels get their own from
the query (none by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

from .errors import InvalidArgument

__all__ = ["SENTINEL_SCHEME", "SentinelMaster", "SentinelMasterSync", "SentinelUrl",
           "client_from_url"]

SENTINEL_SCHEME = "redis+sentinel"
_SENTINEL_QUERY = {"sentinel_username", "sentinel_password"}


@dataclass(frozen=True)
class SentinelUrl:
    """The parts of a ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        """Parse ``url``; a malformed one raises :class:`InvalidArgument` (naming no password)."""
        scheme, sep, rest = url.partition("://")
        if scheme != SENTINEL_SCHEME or not sep:
            raise InvalidArgument(f"not a {SENTINEL_SCHEME}:// URL")
        rest, _, query = rest.partition("?")
        netloc, _, path = rest.partition("/")
        userinfo, at, hosts = netloc.rpartition("@")
        username = password = None
        if at:
            user, colon, secret = userinfo.partition(":")
            username, password = unquote(user) or None, unquote(secret) if colon else None
        sentinels = tuple(_host_port(part) for part in hosts.split(",") if part)
        if not sentinels:
            raise InvalidArgument("a Sentinel URL names at least one sentinel host:port")
        service, _, db = path.strip("/").partition("/")
        if not service:
            raise InvalidArgument("a Sentinel URL ends with /SERVICE (the monitored master's name)")
        if db and not db.isdigit():
            raise InvalidArgument(f"the database after /SERVICE/ must be a number, got {db!r}")
        options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        unknown = set(options) - _SENTINEL_QUERY
        if unknown:
            raise InvalidArgument(f"unknown Sentinel URL option(s): {', '.join(sorted(unknown))}")
        return cls(sentinels, unquote(service), int(db or 0), username, password,
                   options.get("sentinel_username"), options.get("sentinel_password"))

    def client(self, **kwargs: Any) -> aioredis.Redis:
        """An asyncio client on the current master of the service."""
        sentinel_kwargs = {k: v for k, v in kwargs.items() if k.startswith("socket_")}
        if self.sentinel_password is not None:
            sentinel_kwargs["password"] = self.sentinel_password
        if self.sentinel_username is not None:
            sentinel_kwargs["username"] = self.sentinel_username
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels), sentinel_kwargs=sentinel_kwargs, **kwargs
        )
        client: aioredis.Redis = sentinel.master_for(
            self.service, redis_class=SentinelMaster, db=self.db, username=self.username,
            password=self.password,
        )
        return client


class SentinelMaster(aioredis.Redis):
    """An asyncio master client whose ``aclose`` also closes its connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the client, and the sentinel clients it found the master with."""
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", []):
            await sentinel.aclose()


class SentinelMasterSync(redis.Redis):
    """The synchronous twin of :class:`SentinelMaster` (the worker's heartbeat uses it)."""

    def close(self) -> None:
        """Close the client, and the sentinel clients it found the master with."""
        super().close()
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", []):
            sentinel.close()


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise InvalidArgument(f"a sentinel is host:port, got {text!r}")
    return host.strip("[]"), int(port)


def client_from_url(url: str, **kwargs: Any) -> aioredis.Redis:
    """An asyncio client for ``url``; ``kwargs`` go to every connection it makes."""
    if url.startswith(SENTINEL_SCHEME + "://"):
        return SentinelUrl.parse(url).client(**kwargs)
    return aioredis.Redis.from_url(url, **kwargs)
