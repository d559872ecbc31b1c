"""Calls to other services (membership's queries, the ledger's postings) over nameko RPC.

A standalone cluster proxy per call: the saga runs in the kernel's subscriber threads, not in
a nameko worker, so it cannot use a worker's RpcProxy dependency. A call that times out may
still run later; every call made here is idempotent (derived command ids, the ledger's source
ids), so the saga's retry of it is safe.
"""
from __future__ import annotations

from typing import Any

from nameko.standalone.rpc import ClusterRpcProxy


class Services:
    def __init__(self, amqp_uri: str, timeout: float = 10.0):
        self.config = {"AMQP_URI": amqp_uri}
        self.timeout = timeout

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        with ClusterRpcProxy(self.config, timeout=self.timeout) as proxy:
            return getattr(getattr(proxy, service), method)(*args, **kwargs)
