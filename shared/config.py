"""The one place that reads configuration: a service's nameko YAML with `${VAR:default}`.

Values come from the environment (or k8s Secrets mounted as env), never from the repo;
the YAML holds only names and local-development defaults.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<default>[^}]*))?\}")

DEFAULTS = {
    "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/",
    "MONGODB_URI": "mongodb://127.0.0.1:27017/",
}


class ConfigError(Exception):
    pass


def interpolate(text: str, environ: dict[str, str] | None = None) -> str:
    environ = dict(os.environ if environ is None else environ)

    def value(match: re.Match) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"configuration needs the environment variable {name} (no default)")

    return _VARIABLE.sub(value, text)


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read configuration {path}: {error}") from error
    config = yaml.safe_load(interpolate(text, environ)) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"configuration {path} must be a mapping")
    return config
