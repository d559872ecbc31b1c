"""`kopnet`: operator commands.

  kopnet run SERVICE                        run one service in this process
  kopnet run-all                            run every service as its own process, with demo data
  kopnet projections rebuild SERVICE NAME   rebuild one read model from the event history
  kopnet projections list SERVICE           the service's projections and their checkpoints
  kopnet events redeliver SERVICE QUEUE --after P [--upto Q]
                                            re-send SERVICE's stored events in (P, Q] that QUEUE
                                            binds (deploy/topology.yml) straight to that queue

Services add their own commands through an optional `services/<name>/cli.py` that
defines `register(subcommands)` (argparse sub-parsers, each setting `handler`).

SERVICE is a folder name under services/ (e.g. `membership`) or a dotted module path that
defines `definition` (a ServiceDefinition) and sits beside a `config.yml`.
"""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known: see README
import eventlet  # noqa: E402

eventlet.monkey_patch()  # first: services run on eventlet, and pymongo must see green sockets

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from . import topology  # noqa: E402
from .checkpoints import PROJECTIONS, Checkpoints  # noqa: E402
from .eventstore import EventStore, StoreUnavailable, connect  # noqa: E402
from .kernel import ServiceDefinition, Settings  # noqa: E402
from .projection import Projection, generation, rebuild  # noqa: E402
from .redeliver import redeliver  # noqa: E402
from .store_trace import install_from_environment  # noqa: E402
from .supervisor import run_all, run_service, service_config, service_module, service_names  # noqa: E402

install_from_environment()  # KOPNET_STORE_TRACE: before the first client connects


def service_settings(service: str) -> tuple[ServiceDefinition, Settings]:
    module = service_module(service)
    definition: ServiceDefinition = module.definition
    return definition, Settings.from_config(service_config(module), definition.name)


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, width: int = 30):
        self.label, self.width, self._drawn, self._started = label, width, 0.0, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._drawn < 0.1 and done < total:
            return
        self._drawn = now
        filled = int(self.width * done / total) if total else self.width
        rate = done / max(now - self._started, 1e-9)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                         f"{done}/{total} events {rate:,.0f}/s")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")


def _projection(definition: ServiceDefinition, name: str) -> Projection:
    for projection in definition.projections:
        if projection.name == name:
            return projection
    names = ", ".join(p.name for p in definition.projections) or "none"
    raise SystemExit(f"kopnet: {definition.name} has no projection {name!r}; it has: {names}")


def cmd_projections(args: argparse.Namespace) -> int:
    definition, settings = service_settings(args.service)
    try:
        store = EventStore(connect(settings.mongodb_uri, settings.database), definition.registry)
        if args.action == "list":
            for projection in definition.projections:
                gen = generation(store.database, projection.name)
                position = Checkpoints(store.database, group=PROJECTIONS).load(
                    f"projection:{projection.name}:g{gen}")
                print(f"{projection.name}\tgeneration {gen}\tposition {position}")
            return 0
        projection = _projection(definition, args.name)
        bar = ProgressBar(f"rebuilding {definition.name}/{projection.name}")
        started = time.monotonic()
        count = rebuild(store, projection, progress=bar)
        bar.finish()
        print(f"rebuilt {definition.name}/{projection.name} from {count} events "
              f"in {time.monotonic() - started:.1f}s")
        return 0
    except StoreUnavailable as error:
        print(f"kopnet: {error}", file=sys.stderr)
        return 2


def cmd_events(args: argparse.Namespace) -> int:
    definition, settings = service_settings(args.service)
    specs = {spec.queue: spec for spec in topology.declared()}
    if args.queue not in specs:
        raise SystemExit(f"kopnet: no queue {args.queue!r} in the declared topology; it has: "
                         f"{', '.join(specs) or 'none'}")
    try:
        store = EventStore(connect(settings.mongodb_uri, settings.database), definition.registry)
        sent = redeliver(store, settings.amqp_uri, specs[args.queue], args.after, args.upto)
    except StoreUnavailable as error:
        print(f"kopnet: {error}", file=sys.stderr)
        return 2
    print(f"re-delivered {sent} events of {definition.name} to {args.queue}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kopnet", description="kopnet operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    projections = commands.add_parser("projections", help="inspect and rebuild read models")
    actions = projections.add_subparsers(dest="action", required=True)
    rebuild_parser = actions.add_parser("rebuild", help="rebuild a projection from zero")
    rebuild_parser.add_argument("service")
    rebuild_parser.add_argument("name")
    list_parser = actions.add_parser("list", help="list projections and checkpoints")
    list_parser.add_argument("service")
    projections.set_defaults(handler=cmd_projections)
    events = commands.add_parser("events", help="repair deliveries of stored events")
    event_actions = events.add_subparsers(dest="action", required=True)
    again = event_actions.add_parser("redeliver", help="re-send a range of stored events to one queue")
    again.add_argument("service")
    again.add_argument("queue", help="a queue of deploy/topology.yml, e.g. ledger.membership-events")
    again.add_argument("--after", type=int, required=True, help="re-send events after this position")
    again.add_argument("--upto", type=int, default=None, help="... up to this position (default: all)")
    events.set_defaults(handler=cmd_events)
    run = commands.add_parser("run", help="run one service in this process")
    run.add_argument("service")
    run.set_defaults(handler=lambda args: run_service(args.service))
    run_every = commands.add_parser("run-all", help="run every service, load demo data")
    run_every.set_defaults(handler=lambda args: run_all())
    for name in service_names():
        try:
            extension = importlib.import_module(f"services.{name}.cli")
        except ModuleNotFoundError:
            continue
        extension.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
