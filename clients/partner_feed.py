"""kopnet partner feed client: a pika consumer a partner institution's engineer can copy.

    python -m clients.partner_feed --amqp-uri "$KOPNET_FEED_AMQP_URI" --queue partner.<id> \
        --api https://kopnet.example/api/v1 --token "$KOPNET_FEED_TOKEN" --state feed.json --print

What it guarantees: every event the partner is entitled to is handled exactly once and in feed
order, across restarts and outages. It
1. catches up by HTTP replay (GET /feed?after=<saved position>) until nothing is left;
2. then consumes its queue with manual acks, acking a message only after it was handled and the
   position saved; a message at or below the saved position, or with an event_id handled
   recently, is a duplicate (acked, skipped); a message past a gap (position > saved + 1: the
   queue lost or never had some) first catches up by replay;
3. reconnects with exponential backoff (1 s doubling to 30 s) when the broker or the API fails.
`--from-start` ignores the saved position (starts at 0); `--print` prints each event as a JSON line.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pika

log = logging.getLogger("partner_feed")
Handler = Callable[[dict[str, Any]], None]


class State:
    """The last handled feed_position and recent event_ids, saved atomically (write, then rename)."""

    def __init__(self, path: str | Path, from_start: bool = False, remember: int = 1000):
        self.path = Path(path)
        saved = json.loads(self.path.read_text()) if self.path.exists() and not from_start else {}
        self.position: int = saved.get("position", 0)
        self.recent: deque[str] = deque(saved.get("recent", []), maxlen=remember)

    def seen(self, event: dict[str, Any]) -> bool:
        return event["feed_position"] <= self.position or event["event_id"] in self.recent

    def advance(self, event: dict[str, Any]) -> None:
        self.position = event["feed_position"]
        self.recent.append(event["event_id"])
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"position": self.position, "recent": list(self.recent)}))
        os.replace(temporary, self.path)


class PartnerFeedClient:
    def __init__(self, amqp_uri: str, queue: str, api: str, token: str, state: State, handle: Handler,
                 page: int = 500):
        self.amqp_uri, self.queue, self.api, self.token = amqp_uri, queue, api.rstrip("/"), token
        self.state, self.handle, self.page = state, handle, page

    def _deliver(self, event: dict[str, Any]) -> None:
        if self.state.seen(event):
            return
        self.handle(event)
        self.state.advance(event)  # after handling: a crash in between handles it again, never loses it

    def catch_up(self, until: int | None = None) -> None:
        """Replays over HTTP from the saved position (to `until`, or to the end)."""
        while until is None or self.state.position < until:
            request = urllib.request.Request(f"{self.api}/feed?after={self.state.position}&limit={self.page}",
                                             headers={"Authorization": f"Bearer {self.token}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                items = json.load(response)["items"]
            for event in items:
                if until is not None and event["feed_position"] > until:
                    return
                self._deliver(event)
            if not items:
                return

    def consume(self, idle_exit: float | None = None) -> None:
        """Consumes the queue until the connection fails (or `idle_exit` seconds pass without a message)."""
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=100)
            idle_since = time.monotonic()
            for method, _properties, body in channel.consume(self.queue, inactivity_timeout=0.5):
                if method is None:
                    if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                        return
                    continue
                idle_since = time.monotonic()
                event = json.loads(body)
                if event["feed_position"] > self.state.position + 1:
                    self.catch_up(until=event["feed_position"] - 1)  # a gap: the replay has it
                self._deliver(event)
                channel.basic_ack(method.delivery_tag)
        finally:
            if connection.is_open:
                connection.close()

    def run(self, idle_exit: float | None = None, max_backoff: float = 30.0) -> None:
        backoff = 1.0
        while True:
            try:
                self.catch_up()
                self.consume(idle_exit)
                if idle_exit is not None:
                    return
                backoff = 1.0
            except (pika.exceptions.AMQPError, OSError, ValueError) as error:
                log.warning("feed: %s; reconnecting in %.0fs", error, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-uri", default=os.environ.get("KOPNET_FEED_AMQP_URI"), required=False)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--api", required=True, help="the gateway's base, e.g. https://host/api/v1")
    parser.add_argument("--token", default=os.environ.get("KOPNET_FEED_TOKEN"), help="a partner token")
    parser.add_argument("--state", default="partner_feed_state.json")
    parser.add_argument("--from-start", action="store_true", help="ignore the saved position")
    parser.add_argument("--print", action="store_true", help="print each event as a JSON line")
    parser.add_argument("--exit-when-idle", type=float, default=None,
                        help="stop after this many idle seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.print:
        def handle(event: dict[str, Any]) -> None:
            print(json.dumps(event, ensure_ascii=False), flush=True)
    else:
        def handle(event: dict[str, Any]) -> None:  # replace with the institution's own processing
            log.info("event %s %s at feed position %d", event["event_type"], event["event_id"],
                     event["feed_position"])
    client = PartnerFeedClient(args.amqp_uri, args.queue, args.api, args.token,
                               State(args.state, args.from_start), handle)
    client.run(args.exit_when_idle)


if __name__ == "__main__":
    main()
