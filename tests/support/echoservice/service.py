"""A bare nameko service (no kernel, no store): the baseline round trip of an RPC on a broker.
`python -m shared.cli run tests.support.echoservice.service` (bench/e2e_bench.py, rpc_overhead)."""
from nameko.rpc import rpc


class EchoService:
    name = "bench_echo"

    @rpc
    def echo(self, *args, **kwargs):
        return {"args": args, "kwargs": kwargs}


service_class = EchoService
