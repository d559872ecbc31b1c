"""Process bookkeeping for localinfra, with no knowledge of any one server: InfraError and the
`[infra]` output, pid records that carry the kernel start time (so a reused pid is never mistaken
for ours), starting a server detached with its output in a log and waiting for it to answer,
stopping it (SIGTERM then SIGKILL, or SIGKILL at once for fault injection), and State, the
`<data>/pids.json` of what localinfra started.

Every server module builds on these.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from infra.settings import STOP_TIMEOUT


class InfraError(Exception):
    pass


def say(msg: str, end: str = "\n") -> None:
    print(f"[infra] {msg}", end=end, flush=True)


def done(t0: float) -> None:
    print(f" ready in {time.monotonic() - t0:.1f}s", flush=True)



def proc_start_time(pid: int) -> str | None:
    """Kernel start time of `pid` (guards against pid reuse), or None if gone/zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def alive(entry: dict) -> bool:
    return proc_start_time(entry["pid"]) == entry.get("start")


def record(pid: int, **extra: object) -> dict:
    return {"pid": pid, "start": proc_start_time(pid), **extra}


def wait_gone(entry: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:  # reap if it is our child (restart within one invocation)
            os.waitpid(entry["pid"], os.WNOHANG)
        except ChildProcessError:
            pass
        if not alive(entry):
            return True
        time.sleep(0.1)
    return not alive(entry)


def kill_entry(name: str, entry: dict, group: bool = True) -> None:
    """SIGTERM (to the process group if we made one), wait, then SIGKILL."""
    if not alive(entry):
        return
    pid = entry["pid"]

    def send(sig: int) -> None:
        try:
            if group and os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    if not wait_gone(entry, STOP_TIMEOUT):
        say(f"{name} (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT:.0f}s; sending SIGKILL")
        send(signal.SIGKILL)
        wait_gone(entry, 5)


def find_pids(comm: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() == comm and proc_start_time(int(p.name)):
                    pids.append(int(p.name))  # (zombies excluded)
            except OSError:
                pass
    return pids


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None,
          user: str | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, cwd=log.parent, user=user,
        )


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join("    " + (ln if len(ln) <= 200 else ln[:200] + " ...") for ln in text)


def await_start(proc: subprocess.Popen, ready: Callable[[], bool], deadline: float, log: Path,
                exited: str, late: str) -> None:
    """Polls `ready` until it holds. `exited` names the process in the error when it ends first,
    `late` is the whole error when `deadline` (a monotonic time) passes."""
    while not ready():
        if proc.poll() is not None:
            print(flush=True)
            raise InfraError(f"{exited} exited with status {proc.returncode} while starting; "
                             f"read {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            print(flush=True)
            raise InfraError(late)
        time.sleep(0.1)



class State:
    def __init__(self, data: Path):
        self.data = data
        self.file = data / "pids.json"
        try:
            self.procs: dict[str, dict] = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.procs = {}

    def save(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        live = {k: v for k, v in self.procs.items() if alive(v)}
        if live:
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(live, indent=2) + "\n")
            tmp.replace(self.file)
        else:
            self.file.unlink(missing_ok=True)
        self.procs = live

    def get(self, name: str) -> dict | None:
        e = self.procs.get(name)
        return e if e and alive(e) else None


def hard_kill(state: State, name: str, entry: dict) -> None:
    """Crash-style stop for fault injection: SIGKILL the whole process group."""
    say(f"killing {name} (pid {entry['pid']}) with SIGKILL")
    try:
        os.killpg(entry["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_gone(entry, 10)
    state.procs.pop(name, None)
    state.save()
