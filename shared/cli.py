"""`kopnet`: operator commands.

  kopnet projections rebuild SERVICE NAME   rebuild one read model from the event history
  kopnet projections list SERVICE           the service's projections and their checkpoints

SERVICE is a folder name under services/ (e.g. `membership`) or a dotted module path that
defines `definition` (a ServiceDefinition) and sits beside a `config.yml`.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from types import ModuleType

from .config import DEFAULTS, load_config
from .eventstore import EventStore, StoreUnavailable, connect
from .kernel import ServiceDefinition, Settings
from .projection import Projection, generation, rebuild


def service_module(service: str) -> ModuleType:
    path = service if "." in service else f"services.{service}.service"
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as error:
        known = ", ".join(sorted(p.parent.name for p in Path("services").glob("*/service.py")))
        raise SystemExit(f"kopnet: no service {service!r} ({error}); try one of: {known}") from error


def service_settings(module: ModuleType, definition: ServiceDefinition) -> Settings:
    config_path = Path(module.__file__ or ".").with_name("config.yml")
    config = load_config(config_path) if config_path.exists() else {}
    for key, default in DEFAULTS.items():
        config.setdefault(key, default)
    return Settings.from_config(config, definition.name)


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
    module = service_module(args.service)
    definition: ServiceDefinition = module.definition
    settings = service_settings(module, definition)
    try:
        store = EventStore(connect(settings.mongodb_uri, settings.database), definition.registry)
        if args.action == "list":
            for projection in definition.projections:
                gen = generation(store.database, projection.name)
                checkpoint = store.database["checkpoints"].find_one(
                    {"_id": f"projection:{projection.name}:g{gen}"}) or {"position": 0}
                print(f"{projection.name}\tgeneration {gen}\tposition {checkpoint['position']}")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
