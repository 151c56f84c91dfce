"""Throughput of the Stripe emulator: PaymentIntent create + confirm pairs per second.

Starts the emulator in its own process (pinned to one CPU where the OS allows), then drives it with raw aiohttp
requests shaped as the Stripe SDK sends them (form bodies, Bearer key, Idempotency-Key on every POST) at each
concurrency level. Not a test: run it by hand.

    .venv/bin/python bench/emulator_benchmark.py [--operations 3000] [--concurrency 1 50] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

API_KEY = "sk_test_benchmark"
HEADERS = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/x-www-form-urlencoded",
    "Stripe-Version": "2025-09-30.clover",
}
CREATE_BODY = "amount=1999&currency=usd&metadata[orderId]={order}&description=Order+{order}&capture_method=automatic"
CONFIRM_BODY = "payment_method=pm_card_visa&return_url=https://shop.example/return"


@dataclass(frozen=True)
class Result:
    """One run at one concurrency level."""

    concurrency: int
    operations: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        """Create + confirm pairs per second."""
        return self.operations / self.seconds

    def describe(self) -> str:
        """One report line."""
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        return (
            f"concurrency {self.concurrency:>3}: {self.operations} create+confirm in {self.seconds:.2f} s = "
            f"{self.rate:,.0f}/s  (pair latency p50 {p50:.1f} ms, p99 {p99:.1f} ms)"
        )


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pin(cpu: int) -> None:
    """Keep this process on one CPU, so the emulator and the load generator do not share a core."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def emulator_process(port: int, cpu: int | None) -> Iterator[str]:
    """Run `python -m stripe_emulator` on `port` for the duration."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_emulator", "--port", str(port), "--rate-limit", "off"],
        cwd=root,
        preexec_fn=(lambda: pin(cpu)) if cpu is not None else None,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def wait_until_up(session: aiohttp.ClientSession, url: str) -> None:
    """Poll the health route until the emulator answers (at most 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            async with session.get(f"{url}/_emulator/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def one_payment(session: aiohttp.ClientSession, url: str, order: int) -> float:
    """Create a PaymentIntent and confirm it with a test card; returns the pair's latency."""
    started = time.perf_counter()
    create_headers = {**HEADERS, "Idempotency-Key": str(uuid.uuid4())}
    async with session.post(
        f"{url}/v1/payment_intents", data=CREATE_BODY.format(order=order), headers=create_headers
    ) as response:
        created = await response.json()
        if response.status != 200:
            raise RuntimeError(f"create failed: {response.status} {created}")
    confirm_headers = {**HEADERS, "Idempotency-Key": str(uuid.uuid4())}
    async with session.post(
        f"{url}/v1/payment_intents/{created['id']}/confirm", data=CONFIRM_BODY, headers=confirm_headers
    ) as response:
        confirmed = await response.json()
        if response.status != 200 or confirmed["status"] != "succeeded":
            raise RuntimeError(f"confirm failed: {response.status} {confirmed}")
    return time.perf_counter() - started


async def run_level(session: aiohttp.ClientSession, url: str, concurrency: int, operations: int) -> Result:
    """`operations` payments spread over `concurrency` workers."""
    latencies: list[float] = []
    counter = iter(range(operations))

    async def worker() -> None:
        for order in counter:
            latencies.append(await one_payment(session, url, order))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(concurrency, operations, time.perf_counter() - started, latencies)


async def benchmark(url: str, concurrencies: list[int], operations: int, warmup: int) -> list[Result]:
    """Warm up, then measure each concurrency level in turn."""
    connector = aiohttp.TCPConnector(limit=max(concurrencies) + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_until_up(session, url)
        await run_level(session, url, max(concurrencies), warmup)
        return [await run_level(session, url, level, operations) for level in concurrencies]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per concurrency level."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--operations", type=int, default=3000, help="create+confirm pairs per level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--url", help="use an emulator already running there instead of starting one")
    parser.add_argument("--min-rate", type=float, default=500.0, help="report whether each level sustains this")
    args = parser.parse_args(argv)

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    emulator_cpu = cpus[0] if len(cpus) >= 2 else None
    if emulator_cpu is not None:
        pin(cpus[1])
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(emulator_process(free_port(), emulator_cpu))
        results = asyncio.run(benchmark(url, args.concurrency, args.operations, args.warmup))
    placement = f"emulator pinned to CPU {emulator_cpu}, client to CPU {cpus[1]}" if emulator_cpu is not None else ""
    print(f"Stripe emulator benchmark ({placement or 'no CPU pinning'})")
    for result in results:
        verdict = "ok" if result.rate >= args.min_rate else f"BELOW {args.min_rate:.0f}/s"
        print(f"  {result.describe()}  [{verdict}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
