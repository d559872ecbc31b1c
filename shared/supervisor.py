"""Runs services as separate processes (`kopnet run-all`) and one service (`kopnet run`)."""
from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from .config import DEFAULTS, load_config
from .logs import configure_logging

#: Start order: services that others call first, the public gateway last.
ORDER = ["membership", "ledger", "financing", "networking", "feed", "gateway"]


def service_names() -> list[str]:
    found = {p.parent.name for p in Path("services").glob("*/service.py")}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def service_module(service: str) -> ModuleType:
    path = service if "." in service else f"services.{service}.service"
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as error:
        known = ", ".join(service_names()) or "none"
        raise SystemExit(f"kopnet: no service {service!r} ({error}); try one of: {known}") from error


def service_config(module: ModuleType) -> dict[str, Any]:
    config_path = Path(module.__file__ or ".").with_name("config.yml")
    config = load_config(config_path) if config_path.exists() else {}
    for key, default in DEFAULTS.items():
        config.setdefault(key, default)
    return config


def run_service(service: str) -> int:
    """Runs one nameko service in this process until SIGTERM or Ctrl-C."""
    import eventlet
    from nameko.runners import ServiceRunner

    module = service_module(service)
    configure_logging(getattr(module.service_class, "name", service))
    runner = ServiceRunner(service_config(module))
    runner.add_service(module.service_class)
    stopping = eventlet.event.Event()

    def stop(*_args: Any) -> None:
        if not stopping.ready():
            stopping.send(True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.start()
    # What start-up made (modules, schemas, connections) lives as long as the process: frozen,
    # the collector stops walking it, and its full collections shrink from ~50 ms to a few ms.
    gc.collect()
    gc.freeze()
    # nameko kills a container on any error in a managed thread (e.g. an RPC reply that cannot
    # be published while RabbitMQ restarts). A process whose container died must not linger
    # serving nothing: it exits non-zero so that its supervisor (Kubernetes, run-all) restarts it.
    ended = eventlet.spawn(runner.wait)
    ended.link(lambda _thread: stop())
    print(f"[{service}] running (pid {os.getpid()})", flush=True)
    stopping.wait()
    if ended.dead:
        try:
            ended.wait()
        except Exception as error:  # noqa: BLE001 - whatever killed it, the process exits
            print(f"[{service}] the service died ({type(error).__name__}: {error}); exiting so that "
                  "it is restarted", file=sys.stderr, flush=True)
        return 1
    runner.stop()
    return 0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
            return bool(json.loads(response.read()).get("ready"))
    except (OSError, ValueError):
        return False


def start_processes(names: list[str], env: dict[str, str] | None = None,
                    timeout: float = 60.0) -> list[tuple[str, subprocess.Popen]]:
    """Starts each service as `python -m shared.cli run NAME` and waits until it is ready."""
    processes: list[tuple[str, subprocess.Popen]] = []
    environment = {**os.environ, **(env or {})}
    for name in names:
        process = subprocess.Popen([sys.executable, "-m", "shared.cli", "run", name], env=environment)
        processes.append((name, process))
    for name, process in processes:
        port = int(service_config_port(name, environment))
        deadline = time.monotonic() + timeout
        while not (port and _ready(port)):
            if process.poll() is not None:
                stop_processes(processes)
                raise SystemExit(f"kopnet: service {name} exited with {process.returncode} while "
                                 "starting; its output above says why")
            if time.monotonic() > deadline:
                stop_processes(processes)
                raise SystemExit(f"kopnet: service {name} not ready after {timeout:.0f}s "
                                 f"(http://127.0.0.1:{port}/ready)")
            time.sleep(0.1)
        print(f"[run] {name} ready (metrics on :{port})", flush=True)
    return processes


def service_config_port(name: str, environment: dict[str, str]) -> int:
    module = service_module(name)
    config_path = Path(module.__file__ or ".").with_name("config.yml")
    config = load_config(config_path, environment) if config_path.exists() else {}
    return int((config.get("KOPNET") or {}).get("METRICS_PORT") or 0)


def stop_processes(processes: list[tuple[str, subprocess.Popen]], timeout: float = 20.0) -> None:
    for _name, process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"[run] {name} did not stop in time; killing it", flush=True)
            process.kill()
            process.wait()


def run_all() -> int:
    """Every service as its own process; demo data; stops everything on Ctrl-C."""
    names = service_names()
    if not names:
        raise SystemExit("kopnet: no services found under services/")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    processes = start_processes(names)
    try:
        for name in names:
            try:
                demo = importlib.import_module(f"services.{name}.demo")
            except ModuleNotFoundError:
                continue
            demo.main()
        print("[run] all services running; Ctrl-C stops them", flush=True)
        while all(process.poll() is None for _name, process in processes):
            time.sleep(0.5)
        failed = [name for name, process in processes if process.poll() is not None]
        print(f"[run] {', '.join(failed)} stopped unexpectedly; stopping the rest", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\n[run] stopping ...", flush=True)
        return 0
    finally:
        stop_processes(processes)
