"""Use cases run as load → command → save, with optimistic concurrency and retries.

Loading goes through an in-process cache of aggregate states (verified by the store's
version check on save, so a stale entry costs a retry, never a wrong write) and through
persistent snapshots; both are caches: the events stay the only truth. A fresh load (for
rules that read another aggregate, which no version check covers) starts from the cached
state and reads only the commits stored after it. A caller that only reads an aggregate uses
`read`: as fresh, without the copy of the state that a load hands out for a command to change.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from .aggregate import Aggregate, DomainError, DomainEvent
from .commits import PendingCommit
from .envelope import derived_id, new_id
from .eventstore import CommandIdReused, Commit, ConcurrencyError, EventStore, NewEvent
from .registry import EventRegistry

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class CommandContext:
    """Who asked: ids that flow into every event the command causes."""

    command_id: str = ""
    correlation_id: str = ""
    causation_id: str | None = None

    @classmethod
    def new(cls, correlation_id: str | None = None, causation_id: str | None = None,
            command_id: str | None = None) -> CommandContext:
        command_id = command_id or new_id()
        return cls(command_id, correlation_id or command_id, causation_id)

    @classmethod
    def from_wire(cls, raw: dict[str, Any] | None) -> CommandContext:
        """The `context` dict an RPC caller sends ({command_id, correlation_id}, both optional)."""
        raw = raw or {}
        return cls.new(correlation_id=raw.get("correlation_id"), command_id=raw.get("command_id"))

    def step(self, name: str) -> CommandContext:
        """The context of one step of a multi-step command: its own id, stable across retries."""
        return CommandContext(derived_id(name, self.command_id), self.correlation_id, self.causation_id)


@dataclass(frozen=True)
class Outcome:
    result: Any
    aggregate: Aggregate  # the state after the command: read it, never change it (the cache shares it)
    commit: Commit | None

    @property
    def duplicate(self) -> bool:
        return bool(self.commit and self.commit.duplicate)


class Application:
    def __init__(self, store: EventStore, registry: EventRegistry, cache_size: int = 10_000,
                 max_attempts: int = 30):
        self.store = store
        self.registry = registry
        self.max_attempts = max_attempts
        self._cache: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        # stream key -> [its lock, how many commands hold or wait for it] (see `_turn`)
        self._turns: dict[str, list[Any]] = {}
        self._turns_lock = threading.Lock()

    # -- loading ------------------------------------------------------------------------------
    def load(self, cls: type[A], stream_id: str, *, fresh: bool = False) -> A:
        """The aggregate from the cache, or from the store when not cached; `fresh` also reads
        what other processes stored since (an index lookup per commit, one when none)."""
        key = f"{cls.stream_type}:{stream_id}"
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            aggregate = cls.from_snapshot(cached[1], copy=not cls.shares_state)
            if not fresh:
                return aggregate
        else:
            snapshot = (self.store.load_snapshot(cls.stream_type, stream_id, cls.snapshot_version)
                        if cls.snapshot_every else None)
            aggregate = cls.from_snapshot(snapshot[1]) if snapshot is not None else cls(stream_id)
        later = self.store.read_stream(cls.stream_type, stream_id, after_version=aggregate.version)
        if later or cached is None:
            aggregate.replay([self._domain_event(e.event_type, e.payload) for e in later])
            # a class that shares its state lends it to the cache (the command copies what it changes)
            self._remember(key, aggregate, copy=not cls.shares_state)
        return aggregate

    def read(self, cls: type[A], stream_id: str) -> A:
        """The aggregate as stored now (like `load(fresh=True)`, it reads what other processes
        stored since), for a caller that only reads it: a rule that consults another aggregate, a
        query. It hands out the cached state itself, not a copy, which costs as much as the state
        is big (Books keeps its open year's entries) for every savings command that asks whether
        the books are dissolved. Never change what it returns, nor run a command on it: the cache,
        and so every later load and read, would see the change."""
        key = f"{cls.stream_type}:{stream_id}"
        cached = self._cache.get(key)
        if cached is None:
            return self.load(cls, stream_id, fresh=True)  # its own copy: nothing is shared yet
        self._cache.move_to_end(key)
        version, state = cached
        later = self.store.read_stream(cls.stream_type, stream_id, after_version=version)
        if not later:
            return cls.from_snapshot(state, copy=False)
        # Caught up on a copy: a state handed out before is read meanwhile, and stays as it was.
        aggregate = cls.from_snapshot(state)
        aggregate.replay([self._domain_event(e.event_type, e.payload) for e in later])
        self._remember(key, aggregate, copy=False)  # from here on only read, like a saved one
        return aggregate

    @staticmethod
    def _domain_event(event_type: str, payload: dict[str, Any]) -> DomainEvent:
        return DomainEvent(event_type.split(".", 1)[1], payload)

    def _remember(self, key: str, aggregate: Aggregate, copy: bool = True) -> None:
        self._cache[key] = (aggregate.version, aggregate.snapshot_state(copy=copy))
        if not copy:
            aggregate.lend_state()
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self, cls: type[Aggregate], stream_id: str) -> None:
        self._cache.pop(f"{cls.stream_type}:{stream_id}", None)

    # -- commands -----------------------------------------------------------------------------
    def execute(self, cls: type[A], stream_id: str, command: Callable[[A], Any],
                context: CommandContext | None = None) -> Outcome:
        """Loads the aggregate, runs `command` on it, saves what it triggered.

        Retries on a concurrent change; a DomainError is trusted only on fresh state. A
        repeated `context.command_id` returns the first commit and stores nothing.
        """
        context = context or CommandContext.new()
        with self._turn(f"{cls.stream_type}:{stream_id}"):
            return self._execute(cls, stream_id, command, context)

    @contextmanager
    def _turn(self, key: str) -> Iterator[None]:
        """Commands of this process on one stream take turns. Run side by side (two deposits of
        one member a moment apart) all but one would conflict, and a conflict costs a failed
        insert, a lookup of the command id (a scan of the commits on FerretDB v1) and a retry
        after a backoff: under load, that made every command slower and so conflicts likelier.
        Other processes' commands still meet at the store's version check."""
        with self._turns_lock:
            turn = self._turns.setdefault(key, [threading.RLock(), 0])
            turn[1] += 1
        try:
            with turn[0]:
                yield
        finally:
            with self._turns_lock:
                turn[1] -= 1
                if not turn[1]:
                    del self._turns[key]

    def _execute(self, cls: type[A], stream_id: str, command: Callable[[A], Any],
                 context: CommandContext) -> Outcome:
        fresh = False
        for _attempt in range(self.max_attempts):
            aggregate = self.load(cls, stream_id, fresh=fresh)
            try:
                result = command(aggregate)
            except DomainError:
                if not fresh:
                    fresh = True
                    continue
                first = self.store.find_command(context.command_id)
                if first is not None:
                    if (first.stream_type, first.stream_id) != (cls.stream_type, stream_id):
                        raise CommandIdReused("conflict", f"command id {context.command_id} was already "
                                              f"used for {first.stream_type} {first.stream_id}") from None
                    return Outcome(None, self.load(cls, stream_id, fresh=True), first)
                raise
            if not aggregate.pending_events:
                return Outcome(result, aggregate, None)
            try:
                commit = self._save(aggregate, context)
            except ConcurrencyError:
                self.forget(cls, stream_id)
                fresh = True
                # Jittered backoff spreads the retries of many writers on one hot stream.
                time.sleep(random.uniform(0, min(0.002 * 2 ** _attempt, 0.2)))
                continue
            if commit.duplicate:
                self.forget(cls, stream_id)
                return Outcome(result, self.load(cls, stream_id, fresh=True), commit)
            return Outcome(result, aggregate, commit)
        raise ConcurrencyError(
            f"{cls.stream_type} {stream_id} kept changing; gave up after {self.max_attempts} tries"
        )

    def _save(self, aggregate: Aggregate, context: CommandContext) -> Commit:
        pending = self._pending_commit(aggregate, context)
        commit = self.store.append(
            pending.stream_type,
            pending.stream_id,
            pending.expected_version,
            pending.events,
            command_id=pending.command_id,
            correlation_id=pending.correlation_id,
            causation_id=pending.causation_id,
            cooperative_id=pending.cooperative_id,
        )
        if commit.duplicate:
            return commit
        aggregate.mark_saved()
        self._saved(aggregate, pending.expected_version)
        return commit

    def _pending_commit(self, aggregate: Aggregate, context: CommandContext) -> PendingCommit:
        pending = aggregate.pending_events
        events = [NewEvent(self.registry.event_type(event.name), event.data) for event in pending]
        return PendingCommit(aggregate.stream_type, aggregate.id, aggregate.version - len(pending), events,
                             context.command_id, context.correlation_id, context.causation_id,
                             aggregate.cooperative_id)

    def _saved(self, aggregate: Aggregate, expected: int) -> None:
        """Caches a stored aggregate; snapshots it when it crossed a multiple of `snapshot_every`
        since version `expected`."""
        key = f"{aggregate.stream_type}:{aggregate.id}"
        # Not copied: the saved aggregate is only read from here on (Outcome.aggregate is
        # read-only, as is what `read` hands out), and every load hands out a copy.
        self._remember(key, aggregate, copy=False)
        every = aggregate.snapshot_every
        if every and aggregate.version // every > expected // every:
            try:
                self.store.save_snapshot(aggregate.stream_type, aggregate.id, aggregate.version,
                                         aggregate.snapshot_state(), aggregate.snapshot_version)
            except Exception as error:  # noqa: BLE001 - a cache: the command is stored, never fail it now
                log.warning("snapshot of %s %s not saved: %s", aggregate.stream_type, aggregate.id, error)

    # -- several commands at once ---------------------------------------------------------------
    def execute_all(self, cls: type[A], items: list[tuple[str, Callable[[A], Any], CommandContext]]
                    ) -> list[bool]:
        """Runs several commands (stream id, command, context), in their order per stream, and
        stores what they triggered in one request (EventStore.append_all): a commit per command,
        so each keeps its own command id and a redelivery grouped otherwise stores nothing twice.
        One answer per item: True when it is done (stored, or it triggered nothing), False when
        its caller is to run it through `execute`: the command was refused (a DomainError,
        which `execute` decides on fresh state), its commit was not stored, or an earlier command
        of its stream was not done."""
        streams: dict[str, list[int]] = {}
        for number, (stream_id, _command, _context) in enumerate(items):
            streams.setdefault(stream_id, []).append(number)
        done = [False] * len(items)
        with ExitStack() as turns:
            for stream_id in sorted(streams):  # one order for every caller: no two wait for each other
                turns.enter_context(self._turn(f"{cls.stream_type}:{stream_id}"))
            pending: list[PendingCommit] = []
            runs: dict[str, tuple[A, int, list[tuple[int, int | None]], bool]] = {}
            for stream_id, numbers in streams.items():
                aggregate = self.load(cls, stream_id)
                before, refused = aggregate.version, False
                ran: list[tuple[int, int | None]] = []  # (item, its commit in `pending`, if any)
                for number in numbers:
                    _stream, command, context = items[number]
                    try:
                        command(aggregate)
                    except DomainError:
                        refused = True  # it and the stream's later commands go through `execute`
                        break
                    if aggregate.pending_events:
                        ran.append((number, len(pending)))
                        pending.append(self._pending_commit(aggregate, context))
                        aggregate.mark_saved()
                    else:
                        ran.append((number, None))
                runs[stream_id] = (aggregate, before, ran, refused)
            stored = self.store.append_all(pending) if pending else []
            for stream_id, (aggregate, before, commands, refused) in runs.items():
                complete = True
                for number, index in commands:
                    complete = complete and (index is None or stored[index] is not None)
                    done[number] = complete
                if complete and not refused:
                    if aggregate.version > before:
                        self._saved(aggregate, before)
                else:  # the cache must not hold what was not stored (nor a refused command's events)
                    self.forget(cls, stream_id)
        return done
