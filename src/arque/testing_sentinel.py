"""A Sentinel-managed Redis for tests: a master, its replicas and the sentinels watching it.

::

    with SentinelSet(replicas=2, sentinels=3) as group:
        url = group.url                    # redis+sentinel://127.0.0.1:p1,.../arque
        group.master().kill()              # the sentinels promote a replica
        group.wait_failover(old_port)

Every process is a plain ``redis-server`` (``--sentinel`` mode for the
sentinels), on free loopback ports, each in its own temp dir.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis

from .testing import RedisServer, RedisServerError, _Managed

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RedisSentinel", "SentinelSet"]

_HOST = "127.0.0.1"


class RedisSentinel(RedisServer):
    """One ``redis-server --sentinel`` watching ``service`` (its master at ``master_port``).

    ``down_after_ms`` is how long the master must be silent before it is
    judged down; small values make failover tests quick.
    """

    def __init__(
        self, service: str, master_port: int, *, quorum: int = 2, down_after_ms: int = 1000,
        failover_timeout_ms: int = 10_000, binary: str | None = None,
    ) -> None:
        super().__init__(binary=binary)
        self.service = service
        self._config = [
            "sentinel resolve-hostnames no",
            f"sentinel monitor {service} {_HOST} {master_port} {quorum}",
            f"sentinel down-after-milliseconds {service} {down_after_ms}",
            f"sentinel failover-timeout {service} {failover_timeout_ms}",
            f"sentinel parallel-syncs {service} 1",
        ]

    def _command(self, port: int) -> list[str]:
        config = self.dir / "sentinel.conf"
        if not config.exists():  # a restarted sentinel keeps what it has learned
            head = [f"port {port}", f"bind {_HOST}", "protected-mode no", "daemonize no",
                    f"dir {self.dir}", f"logfile {self.dir / 'redis.log'}"]
            config.write_text("\n".join(head + self._config) + "\n")
        return [self.binary, str(config), "--sentinel"]

    def master_address(self) -> tuple[str, int] | None:
        """Where this sentinel says the master is, or None."""
        with self.client(decode_responses=True) as client:
            reply = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return (str(reply[0]), int(reply[1])) if reply else None


class SentinelSet(_Managed):
    """A master, ``replicas`` replicas and ``sentinels`` sentinels (quorum: a majority)."""

    def __init__(
        self, *, replicas: int = 1, sentinels: int = 3, service: str = "arque",
        down_after_ms: int = 1000, binary: str | None = None, startup_timeout: float = 30.0,
    ) -> None:
        self.service = service
        self._replica_count = replicas
        self._sentinel_count = sentinels
        self._down_after_ms = down_after_ms
        self._binary = binary
        self._startup_timeout = startup_timeout
        self.servers: list[RedisServer] = [self._server(None)]
        self.sentinels: list[RedisSentinel] = []

    def _server(self, replicaof: int | None) -> RedisServer:
        # A replica (re)syncing after a failover should not wait 5 s for a diskless sync.
        return RedisServer(binary=self._binary, replicaof=replicaof,
                           extra_args=["--repl-diskless-sync-delay", "0"])

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(_HOST, s.port) for s in self.sentinels]

    @property
    def url(self) -> str:
        """``redis+sentinel://host:port,host:port/SERVICE``, as the CLI takes it."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinel_addresses)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self) -> Self:
        """Start the master, its replicas (in sync), then the sentinels (knowing each other)."""
        master = self.servers[0].start()
        for _ in range(self._replica_count):
            self.servers.append(self._server(master.port).start())
        self._wait(lambda: self._synced_replicas(master) == self._replica_count, "replicas sync")
        quorum = self._sentinel_count // 2 + 1
        for _ in range(self._sentinel_count):
            sentinel = RedisSentinel(self.service, master.port, quorum=quorum,
                                     down_after_ms=self._down_after_ms, binary=self._binary)
            self.sentinels.append(sentinel.start())
        self._wait(self._sentinels_ready, "sentinels discover each other")
        return self

    def master(self) -> RedisServer:
        """The server the sentinels name as master now."""
        address = self.sentinels[0].master_address()
        for server in self.servers:
            if server.running and address == (_HOST, server.port):
                return server
        raise RedisServerError(f"no running server is the master the sentinels name: {address}")

    def wait_failover(self, old_port: int, timeout: float = 30.0) -> RedisServer:
        """Wait until every sentinel names a running master other than ``old_port``."""

        def done() -> bool:
            addresses = {s.master_address() for s in self.sentinels if s.running}
            if len(addresses) != 1 or (_HOST, old_port) in addresses:
                return False
            new = self.master()
            with new.client(decode_responses=True) as client:
                return bool(client.info("replication").get("role") == "master")

        self._wait(done, "failover", timeout)
        return self.master()

    def stop(self) -> None:
        for process in [*self.sentinels, *self.servers]:
            process.stop()

    def cleanup(self) -> None:
        for process in [*self.sentinels, *self.servers]:
            process.cleanup()

    @staticmethod
    def _synced_replicas(master: RedisServer) -> int:
        with master.client(decode_responses=True) as client:
            info = client.info("replication")
        states = [str(v) for k, v in info.items() if k.startswith("slave") and k[5:].isdigit()]
        return sum("online" in state for state in states)

    def _sentinels_ready(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client(decode_responses=True) as client:
                master = client.execute_command("SENTINEL", "MASTER", self.service)
            fields = dict(zip(master[::2], master[1::2])) if isinstance(master, list) else master
            if int(fields.get("num-slaves", 0)) != self._replica_count:
                return False
            if int(fields.get("num-other-sentinels", 0)) != self._sentinel_count - 1:
                return False
        return True

    def _wait(self, check: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self._startup_timeout)
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (OSError, RedisServerError, redis.ConnectionError, redis.TimeoutError):
                pass  # a server being killed or promoted: ask again
            time.sleep(0.1)
        raise RedisServerError(f"{what}: not done within {timeout or self._startup_timeout}s")
