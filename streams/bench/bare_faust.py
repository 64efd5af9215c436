"""The ingest benchmark's Faust baseline: one ``take_events`` agent that only ``json.loads``.

    python -m streams.bench.bare_faust --bootstrap HOST:PORT --count N --out result.json

Why a separate process: it is the same framework and transport as the streamrec worker (the
``streamrec-kafka`` transport with the same fetch wait, the same batch size and window) minus
everything streamrec does per batch (validation, the DuckDB transaction, offsets, pending
marks, the recommend and status tasks). It reads the way Faust's documentation shows, with
``take_events``; the worker's intake (``streams.delivery.ChannelReader``) skips Faust's
per-record stream iteration instead. The ratio worker / bare Faust is therefore the cost of
streamrec's own work net of that intake, and bare Faust / raw aiokafka the cost of the
framework.

The agent records the monotonic time of its first and its N-th record and writes them to
``--out``; the benchmark then stops the process.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import cast

import faust

from streams import transport
from streams.contracts import CLICKS
from streams.settings import Settings

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--web-port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()

    defaults = Settings()
    app = faust.App(
        f"bench-bare-faust-{int(time.time() * 1000)}",  # a fresh group: read from the start
        broker=f"{transport.SCHEME}://{args.bootstrap}",
        store="memory://",
        datadir=str(args.data_dir),
        topic_partitions=defaults.partitions,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_port=args.web_port,
        # The worker's group-join settings (streams.app), so both start the same way.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
        stream_wait_empty=False,
    )
    transport.configure(app, defaults.fetch_max_wait_ms)
    topic = app.topic(CLICKS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    # The clock starts when the first batch arrives, so that batch's records are not counted:
    # the worker's figure likewise counts only what it stored after its first poll.
    seen = {"count": 0, "first": 0.0, "first_batch": 0}

    @app.agent(topic)
    async def read(stream: faust.StreamT) -> None:
        batches = cast(faust.Stream, stream).take_events(defaults.batch_max_events, defaults.batch_within_s)
        async for events in batches:
            if not seen["count"]:
                seen["first"] = time.monotonic()
                seen["first_batch"] = len(events)
            for event in events:
                json.loads(event.message.value or b"null")
            seen["count"] += len(events)
            if seen["count"] >= args.count:
                result = {
                    "records": seen["count"] - seen["first_batch"],
                    "first": seen["first"],
                    "last": time.monotonic(),
                }
                args.out.write_text(json.dumps(result))  # the parent then stops this process
                return

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
