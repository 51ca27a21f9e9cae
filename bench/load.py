"""The load generator: a bounded number of requests at a fixed concurrency, over keep-alive connections.

Every response is checked (status, a complete body, for streams every event up to message_stop), so
a run that "succeeds" quickly because the gateway answered errors counts them as errors instead.
"""

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import aiohttp

from bench.fake_upstream import FRAME_EVENTS


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    ttfbs: list[float] = field(default_factory=list)  # streams: time to the first body chunk
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def pct(self, values: list[float], q: float) -> float | None:
        """Percentile in milliseconds (nearest rank), None without data."""
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))] * 1000

    def summary(self) -> dict:
        return {
            "requests": self.requests, "errors": self.errors, "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": self.pct(self.latencies, 50), "p95_ms": self.pct(self.latencies, 95),
            "ttfb_p50_ms": self.pct(self.ttfbs, 50), "error_samples": self.error_samples[:5],
        }

    def fail(self, why: str):
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(why[:300])


async def _one(session: aiohttp.ClientSession, url: str, headers: dict, body: bytes, stream: bool,
               events: int, complete, result: Result):
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            if not stream:
                data = await resp.read()
                if resp.status != 200 or (why := complete(data, False, 0)):
                    return result.fail(f"HTTP {resp.status}: {data[:200]!r}")
                result.latencies.append(time.perf_counter() - started)
                return
            first = await resp.content.readany()
            ttfb = time.perf_counter() - started
            chunks = [first]
            while chunk := await resp.content.readany():
                chunks.append(chunk)
            data = b"".join(chunks)
            if resp.status != 200:
                return result.fail(f"HTTP {resp.status}: {data[:200]!r}")
            if why := complete(data, True, max(events - FRAME_EVENTS, 1)):
                return result.fail(f"{why}: {data[-200:]!r}")
            result.latencies.append(time.perf_counter() - started)
            result.ttfbs.append(ttfb)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        result.fail(f"{type(exc).__name__}: {exc}")


async def run_load(url: str, headers: dict, *, body: bytes, complete, requests: int, concurrency: int, stream: bool,
                   events: int = 20, timeout: float = 120.0) -> Result:
    """`requests` POSTs to `url`, `concurrency` at a time; all connections opened up front are reused.
    `complete(data, stream, deltas)` says why an answer is not complete ('' when it is)."""
    result = Result(requests=requests)
    remaining = iter(range(requests))

    async def worker(session):
        for _ in remaining:
            await _one(session, url, headers, body, stream, events, complete, result)

    connector = aiohttp.TCPConnector(limit=0, force_close=False, enable_cleanup_closed=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout, auto_decompress=False,
                                     skip_auto_headers=("User-Agent",)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(min(concurrency, requests))))
        result.seconds = time.perf_counter() - started
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
