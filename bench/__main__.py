"""`make bench`: kernel throughput as ratios against raw baselines measured in the same run, then
the end-to-end figures of bench/e2e_bench.py and bench/sustained_bench.py (real service processes;
docs/performance.md).

Each figure runs its raw baseline on the same servers right before it, with the same
document or message sizes, so the ratio does not depend on how fast this machine is.
Writes bench/results.json and prints a table.
"""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known: see README

import eventlet  # noqa: E402

eventlet.monkey_patch()

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

from bench import (  # noqa: E402
    catalog_bench,
    e2e_bench,
    financing_bench,
    kernel_bench,
    peer_bench,
    sustained_bench,
)
from shared.config import DEFAULTS  # noqa: E402

RESULTS = Path(__file__).with_name("results.json")


def verdict(value: float, aim: str) -> str:
    """PASS or FAIL of a value against an aim such as ">= 0.6" or "<= 100" ("" without an aim)."""
    if not aim:
        return ""
    operator, bound = aim.split()
    return "PASS" if (value >= float(bound) if operator == ">=" else value <= float(bound)) else "FAIL"


def cpu_probe_ms(rounds: int = 5) -> list[float]:
    """Milliseconds of a fixed pure-Python loop, `rounds` times: how fast this machine's CPU is
    right now. On the shared 2-core machine of session 7 it took 151 to 270 ms within a minute,
    idle, so absolute rates and latencies are read beside it (ratios cancel most of it out)."""
    times = []
    for _ in range(rounds):
        started, total = time.perf_counter(), 0
        for number in range(5_000_000):
            total += number
        times.append(round((time.perf_counter() - started) * 1000, 1))
    return times


def main() -> int:
    # py-amqp warns of confirms that arrive while a cluster proxy closes its channel at the end of
    # a figure: nothing is lost (every figure has its answers by then), so keep the run quiet
    logging.getLogger("amqp").setLevel(logging.ERROR)
    amqp_uri = os.environ.get("AMQP_URI", DEFAULTS["AMQP_URI"])
    mongodb_uri = os.environ.get("MONGODB_URI", DEFAULTS["MONGODB_URI"])
    # `python -m bench relay_ratio [...]` measures only the named figures, and writes no results.json
    only = set(sys.argv[1:])
    run_id = uuid.uuid4().hex[:8]
    started = time.monotonic()
    figures: dict[str, dict] = {}
    load_before = os.getloadavg()
    probe_before = cpu_probe_ms()
    for name, measure in [*peer_bench.FIGURES, *kernel_bench.FIGURES, *catalog_bench.FIGURES,
                          *e2e_bench.FIGURES, *sustained_bench.FIGURES, *financing_bench.FIGURES]:
        if only and name not in only:
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        figures.update(measure(amqp_uri, mongodb_uri, run_id))
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "store": "MONGODB_URI" if "MONGODB_URI" in os.environ else "local FerretDB v1 (SQLite)",
        "seconds": round(time.monotonic() - started, 1),
        # 1-minute load average of this (shared) machine before and after: ratios are comparable,
        # absolute rates and latencies depend on what else ran
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        # the same fixed Python loop before and after the figures, in ms (cpu_probe_ms)
        "cpu_probe_ms": {"before": probe_before, "after": cpu_probe_ms()},
        "figures": figures,
    }
    for figure in figures.values():
        if figure.get("aim"):
            figure["verdict"] = verdict(figure["value"], figure["aim"])
    if not only:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'figure':<34}{'value':>14}{'aim':>12}{'':>6}  detail")
    for name, figure in figures.items():
        print(f"{name:<34}{figure['value']:>14,.3f}{figure.get('aim', ''):>12}"
              f"{figure.get('verdict', ''):>6}  {figure.get('detail', '')}")
    failed = [name for name, figure in figures.items() if figure.get("verdict") == "FAIL"]
    verdicts = f"FAIL: {', '.join(failed)}" if failed else "every aim PASS"
    print(f"cpu probe (ms of a fixed Python loop, 5 runs): before {result['cpu_probe_ms']['before']}, "
          f"after {result['cpu_probe_ms']['after']}")
    print(("" if only else f"written to {RESULTS}; ") + verdicts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
