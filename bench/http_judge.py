"""HTTP judge capacity: judgements/s of ``--judge http`` against a server that answers at once.

What a GPU server behind ``bixse judge --judge http`` would wait on if the client were slow: the
request building, the HTTP client, the log-probability read-out and the label cache's writes.
The server is a stub in its own process (asyncio, HTTP/1.1 keep-alive) that answers every
``/chat/completions`` request with the same top log-probabilities and no delay, so what is
measured is the client side. Each run labels fresh pairs into a fresh SQLite label cache
through ``bixse.judging.label_pairs`` (batches of ``max(32, 4 x concurrency)``, committed batch by
batch, as ``bixse judge`` does), at concurrency 1, 8 and 64.

Run: ``.venv/bin/python bench/http_judge.py [--pairs 3000] [--write]``.
"""

from __future__ import annotations

# isort: off
from pinned_threads import THREADS  # first: fixes the threads before numpy/torch load
# isort: on

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from readme_section import publish

from bixse.environment import describe_cpu
from bixse.judging import HTTPJudge, LabelCache, label_pairs

ANSWER = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "2"}, "logprobs": {
    "content": [{"token": "2", "logprob": -0.3, "top_logprobs": [
        {"token": "2", "logprob": -0.3}, {"token": "3", "logprob": -1.6}, {"token": "1", "logprob": -2.4},
        {"token": "0", "logprob": -4.0}]}]}}]}).encode()
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the stub server did not start")


def measure(base_url: str, concurrency: int, pairs: int, round_index: int) -> float:
    """Judgements per second labelling ``pairs`` new pairs into a fresh cache."""
    judge = HTTPJudge("stub-model", base_url=base_url, max_concurrency=concurrency)
    todo = [(f"query {round_index}-{i // 20}", f"passage {i} about the boundary layer of a flat plate")
            for i in range(pairs)]
    with tempfile.TemporaryDirectory() as folder, LabelCache(Path(folder) / "labels.sqlite") as cache:
        start = time.perf_counter()
        result = label_pairs(judge, todo, cache)  # the batch bixse judge uses: 4 x concurrency, at least 32
        seconds = time.perf_counter() - start
        assert result.stats.judged == pairs and cache.count(judge) == pairs, "every pair labelled and stored"
    judge.close()
    return pairs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000, help="pairs per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--rounds", type=int, default=3, help="runs per concurrency (best and median reported)")
    parser.add_argument("--write", action="store_true", help="write the table into bench/README.md")
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(port,), daemon=True)
    server.start()
    load_before = os.getloadavg()[0]
    try:
        wait_for(port)
        base_url = f"http://127.0.0.1:{port}/v1"
        measure(base_url, 8, 200, -1)  # warm-up: imports, connections
        rates = {c: [measure(base_url, c, args.pairs, r * 100 + c) for r in range(args.rounds)]
                 for c in args.concurrency}
    finally:
        server.terminate()
    lines = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {describe_cpu()}; the stub server in its own "
             f"process on the same 2 cores; {args.pairs:,} new pairs per run into a fresh SQLite label cache, "
             f"batches of max(32, 4 x concurrency) as `bixse judge`; {args.rounds} runs each; 1-minute load average {load_before:.1f} at the "
             f"start, {os.getloadavg()[0]:.1f} at the end. Command: `.venv/bin/python bench/http_judge.py "
             f"--pairs {args.pairs} --write`.", "",
             "| concurrency | judgements/s (best) | judgements/s (median) |", "|---:|---:|---:|"]
    for concurrency, values in rates.items():
        lines.append(f"| {concurrency} | {max(values):,.0f} | {sorted(values)[len(values) // 2]:,.0f} |")
    best = max(max(values) for values in rates.values())
    lines += ["", f"Best: {best:,.0f} judgements/s (target: at least 1,000 on these 2 cores, "
              f"{'met' if best >= 1000 else 'not met'}). torch threads pinned to {THREADS} (not used here)."]
    publish("http", lines, args.write)


if __name__ == "__main__":
    main()
