"""The parts of deploy/localinfra.py, one concern a module; that script keeps the commands.

deploy/localinfra.py puts deploy/ on sys.path and imports these as `infra.<module>`; like it, they
use the standard library only, because the system python3 runs them before any virtualenv exists.
settings holds the few constants several modules share, processes the pid records and process
handling, wire the network probes, rabbitmq, ferretdb and postgres one server each, and tools what
comes from apt besides (Prometheus, Chromium).
"""
