"""`python -m bench`: subrelay against its upstream, direct and relayed, in the same run.

One fake Anthropic upstream (bench/fake_upstream.py) and one gateway (`manage.py serve`: uvicorn, one
worker) run as separate processes; this process generates the load. Every scenario runs the same load
first straight at the fake, then through subrelay with key auth, slots, charging and usage logging on,
so the difference is what subrelay adds. Gateway CPU comes from /proc (utime + stime) around the relayed
run, read after the charges of that run have landed; peak RSS is the gateway's VmHWM.
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench import prepare, procs, profile
from bench.load import median, run_load
from bench.providers import PROVIDERS

DIRECT_KEY = "sk-ant-bench-direct"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    stream: bool
    concurrency: int
    requests: int
    events: int = 20
    delay_ms: float = 0
    idle_before_s: float = 0  # quiet time before the relayed run, so that short-lived caches expire
    provider: str = "anthropic"  # bench/providers.py: the protocol and the account kind relayed to


FULL = [
    Scenario("json_c1", "JSON, c=1", False, 1, 300),
    Scenario("json_c32", "JSON, c=32", False, 32, 2000),
    Scenario("stream_c32", "Stream (20 events), c=32", True, 32, 1000),
    Scenario("slow_500", "500 slow streams at once (20 events, 100 ms apart)", True, 500, 500, 20, 100),
    Scenario("bedrock_stream_c32", "Bedrock stream (20 events), c=32", True, 32, 1000, provider="bedrock"),
    Scenario("gemini_stream_c32", "Gemini stream (20 events), c=32", True, 32, 1000, provider="gemini"),
    Scenario("openai_json_c32", "OpenAI Chat JSON, c=32", False, 32, 2000, provider="openai"),
    Scenario("openai_stream_c32", "OpenAI Chat stream (14 deltas), c=32", True, 32, 1000, provider="openai"),
]
QUICK = [
    Scenario("json_c1", "JSON, c=1", False, 1, 20),
    Scenario("json_c32", "JSON, c=32", False, 32, 64),
    Scenario("stream_c32", "Stream (20 events), c=32", True, 32, 64),
    Scenario("slow_500", "20 slow streams at once (20 events, 50 ms apart)", True, 20, 20, 20, 50),
    Scenario("bedrock_stream_c32", "Bedrock stream (20 events), c=32", True, 32, 64, provider="bedrock"),
    Scenario("gemini_stream_c32", "Gemini stream (20 events), c=32", True, 32, 64, provider="gemini"),
    Scenario("openai_json_c32", "OpenAI Chat JSON, c=32", False, 32, 64, provider="openai"),
    Scenario("openai_stream_c32", "OpenAI Chat stream (14 deltas), c=32", True, 32, 64, provider="openai"),
]
# Not run unless named in --scenarios: a burst after the gateway's in-process caches (auth: 15 s) expired.
EXTRA = [
    Scenario("cold_500", "500 slow streams at once after 16 s idle (in-process caches expired)", True, 500, 500, 20,
             100, idle_before_s=16),
]
TARGETS = {"json_cpu_ms": 2.0, "stream_cpu_ms": 3.0, "added_p50_c1_ms": 3.0}
# Another provider's path, against the Anthropic path's CPU per request in the same run: (scenario, baseline, ratio).
RATIO_TARGETS = [("bedrock_stream_c32", "stream_c32", 1.3), ("gemini_stream_c32", "stream_c32", 1.2),
                 ("openai_json_c32", "json_c32", 1.2), ("openai_stream_c32", "stream_c32", 1.2)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("auto", "embedded", "production", "all"), default="auto",
                        help="production = PostgreSQL + Redis on 127.0.0.1 (database $BENCH_PG_DB, default "
                             "subrelay_bench, and Redis db $BENCH_REDIS_DB, default 7: both wiped at start); "
                             "embedded = SQLite and in-process limiter; auto = production when both answer; "
                             "all = embedded, then production when available")
    parser.add_argument("--quick", action="store_true", help="a few requests per scenario (smoke test)")
    parser.add_argument("--repeat", type=int, default=1, help="run every scenario N times and report medians")
    parser.add_argument("--scenarios", default="",
                        help=f"comma-separated subset of {[s.key for s in FULL]} (default: all of them), or "
                             f"{[s.key for s in EXTRA]}")
    parser.add_argument("--profile", nargs="?", const="json_c32", default="",
                        help="after measuring, run these scenarios (default json_c32) once more under py-spy "
                             "and print where the gateway's CPU went (not counted in the table)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="DATA_DIR of the gateway (default var/bench or var/bench-pg); its SQLite files are "
                             "deleted at start")
    parser.add_argument("--results-dir", type=Path, default=prepare.ROOT / "bench" / "results",
                        help="where bench-<UTC time>.json/.md and the profiles go (default bench/results, git-ignored)")
    parser.add_argument("--asgi", default="", metavar="MODULE:APP",
                        help="serve this ASGI application with uvicorn (serve's options) instead of `manage.py serve`,"
                             " e.g. to measure a candidate handler change; PYTHONPATH reaches the module")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the fake and the gateway up at the end (prints their URLs and the key)")
    return parser.parse_args(argv)


def resolve_modes(requested: str) -> list[str]:
    ok, why = prepare.services_reachable()
    if requested == "production" and not ok:
        sys.exit(f"production mode needs PostgreSQL and Redis on 127.0.0.1: {why}")
    if requested == "auto":
        if not ok:
            print(f"embedded mode ({why})", flush=True)
        return ["production" if ok else "embedded"]
    if requested == "all":
        if not ok:
            print(f"production mode skipped ({why})", flush=True)
        return ["embedded", "production"] if ok else ["embedded"]
    return [requested]


async def configure_fake(fake_url: str, events: int, delay_ms: float):
    config = {"events": events, "delay_ms": delay_ms}
    async with aiohttp.ClientSession() as session, session.post(f"{fake_url}/_bench/config", json=config) as r:
        r.raise_for_status()


async def fake_stats(fake_url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{fake_url}/_bench/stats") as r:
        return await r.json()


def wait_for_charges(mode: str, data_dir: Path, expected: int, patience: float) -> tuple[int, float]:
    """Poll the usage log until it holds `expected` rows or stops growing for `patience` seconds.

    Returns the count and how long the last charges took to land after the load ended.
    """
    started = last_change = time.monotonic()
    count = prepare.usage_log_count(mode, data_dir)
    while count < expected and time.monotonic() - last_change < patience:
        time.sleep(0.05)
        new = prepare.usage_log_count(mode, data_dir)
        if new != count:
            count, last_change = new, time.monotonic()
    return count, time.monotonic() - started


class ModeRun:
    def __init__(self, mode: str, args, fake_url: str, scenarios: list[Scenario]):
        self.mode, self.args, self.fake_url, self.scenarios = mode, args, fake_url, scenarios
        default_dir = prepare.ROOT / "var" / ("bench-pg" if mode == "production" else "bench")
        self.data_dir = (args.data_dir or default_dir).resolve()
        self.env = prepare.environment(mode, self.data_dir, fake_url)
        self.gateway = None
        self.relayed = 0  # requests sent through the gateway, warm-up included
        self.succeeded = 0  # of which answered completely: each must have exactly one usage log row
        self.patience = 10.0 if args.quick else 20.0

    def setup(self):
        print(f"[{self.mode}] preparing the database in {self.data_dir}", flush=True)
        prepare.reset_database(self.mode, self.data_dir)
        prepare.manage("migrate", "--noinput", "-v0", env=self.env)
        self.keys = prepare.seed(self.env, self.fake_url)
        port = procs.free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = self.data_dir / "gateway.log"
        self.log.write_bytes(b"")
        self.gateway = procs.start_gateway(self.env, port, self.log, self.args.asgi)
        print(f"[{self.mode}] gateway pid {self.gateway.pid} on {self.url}", flush=True)

    async def relay(self, scenario: Scenario, requests: int | None = None, concurrency: int | None = None):
        provider = PROVIDERS[scenario.provider]
        headers = provider.gateway_headers(self.keys[scenario.provider])
        result = await run_load(f"{self.url}{provider.relayed_path(scenario.stream)}", headers,
                                body=provider.body(scenario.stream),
                                complete=provider.gateway_complete, requests=requests or scenario.requests,
                                concurrency=concurrency or scenario.concurrency, stream=scenario.stream,
                                events=scenario.events)
        self.relayed += result.requests
        self.succeeded += result.requests - result.errors
        return result

    async def direct(self, scenario: Scenario, requests: int | None = None, concurrency: int | None = None):
        provider = PROVIDERS[scenario.provider]
        return await run_load(f"{self.fake_url}{provider.direct_path(scenario.stream)}",
                              provider.direct_headers(DIRECT_KEY), body=provider.body(scenario.stream),
                              complete=provider.direct_complete, requests=requests or scenario.requests,
                              concurrency=concurrency or scenario.concurrency, stream=scenario.stream,
                              events=scenario.events)

    async def warm_up(self):
        n = 5 if self.args.quick else 50
        warm = {"json_c1", "stream_c32"} | {s.key for s in self.scenarios if s.provider != "anthropic"}
        for scenario in (s for s in FULL if s.key in warm):
            await configure_fake(self.fake_url, scenario.events, 0)
            await self.direct(scenario, n, 4)
            result = await self.relay(scenario, n, 4)
            if result.errors:
                raise RuntimeError(f"warm-up through the gateway failed: {result.error_samples}")
        wait_for_charges(self.mode, self.data_dir, self.succeeded, self.patience)
        self.memory_after_warm_up = procs.memory_mb(self.gateway.pid)

    async def measure(self, scenario: Scenario) -> dict:
        await configure_fake(self.fake_url, scenario.events, scenario.delay_ms)
        direct = await self.direct(scenario)
        direct_peak = (await fake_stats(self.fake_url))["peak_streams"]
        await configure_fake(self.fake_url, scenario.events, scenario.delay_ms)  # resets the peak
        if scenario.idle_before_s:
            await asyncio.sleep(scenario.idle_before_s)
        pid = self.gateway.pid
        user_before, system_before = procs.cpu_times(pid)
        peak_threads = [0]
        sampler = asyncio.create_task(procs.sample_threads(pid, peak_threads))
        relayed = await self.relay(scenario)
        sampler.cancel()
        charged, charge_lag = wait_for_charges(self.mode, self.data_dir, self.succeeded, self.patience)
        user, system = procs.cpu_times(pid)
        user, system = user - user_before, system - system_before
        cpu = user + system
        gw_peak = (await fake_stats(self.fake_url))["peak_streams"]
        d, g = direct.summary(), relayed.summary()
        row = {
            "direct": d, "subrelay": g,
            "added_p50_ms": _minus(g["p50_ms"], d["p50_ms"]), "added_p95_ms": _minus(g["p95_ms"], d["p95_ms"]),
            "cpu_ms_per_request": 1000 * cpu / scenario.requests, "peak_threads": peak_threads[0],
            "cpu_user_ms_per_request": 1000 * user / scenario.requests,
            "cpu_system_ms_per_request": 1000 * system / scenario.requests,
            "charged_total": charged, "expected_charged_total": self.succeeded, "charge_lag_s": round(charge_lag, 3),
            **procs.memory_mb(pid),
        }
        if scenario.stream:
            row["peak_open_upstream_streams"] = {"direct": direct_peak, "subrelay": gw_peak}
        print(f"[{self.mode}] {scenario.key}: direct {d['rps']} req/s p50 {_fmt(d['p50_ms'])} ms | subrelay "
              f"{g['rps']} req/s p50 {_fmt(g['p50_ms'])} ms, CPU {row['cpu_ms_per_request']:.2f} ms/req "
              f"(user {row['cpu_user_ms_per_request']:.2f}, system {row['cpu_system_ms_per_request']:.2f}), "
              f"errors {d['errors']}/{g['errors']}" + (f", samples {g['error_samples'][:2]}" if g["errors"] else ""),
              flush=True)
        return row

    async def profile(self, scenario: Scenario, out_dir: Path) -> dict | None:
        raw = out_dir / f"profile-{self.args.stamp}-{self.mode}-{scenario.key}.txt"
        spy = procs.start_profiler(self.gateway.pid, raw)
        if spy is None:
            print("py-spy is not installed (pip install -e '.[bench]'); no profile", flush=True)
            return None
        await asyncio.sleep(1.0)  # py-spy attaches
        await configure_fake(self.fake_url, scenario.events, scenario.delay_ms)
        await self.relay(scenario)
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        wait_for_charges(self.mode, self.data_dir, self.succeeded, self.patience)
        if not raw.exists():
            print(f"py-spy wrote no profile, see {raw.with_suffix('.log')}", flush=True)
            return None
        try:
            summary = profile.summarize(raw)
        except Exception as exc:  # a profile is a bonus: never lose the measurements over it
            print(f"could not summarize {raw}: {exc!r}", flush=True)
            return None
        summary["raw_file"] = str(raw)
        return summary

    def teardown(self):
        if self.args.keep_running:
            print(f"[{self.mode}] gateway left running: {self.url} keys {self.keys}", flush=True)
        else:
            procs.stop(self.gateway)


def _minus(a, b):
    return None if a is None or b is None else a - b


def _fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def aggregate(rows: list[dict]) -> dict:
    """Medians over the repeats; errors are summed."""
    def med(*path):
        values = []
        for row in rows:
            value = row
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            values.append(value)
        return median(values)

    out = {side: {m: med(side, m) for m in ("rps", "p50_ms", "p95_ms", "ttfb_p50_ms")} for side in
           ("direct", "subrelay")}
    for side in ("direct", "subrelay"):
        out[side]["errors"] = sum(row[side]["errors"] for row in rows)
        out[side]["requests"] = sum(row[side]["requests"] for row in rows)
    for name in ("added_p50_ms", "added_p95_ms", "cpu_ms_per_request", "cpu_user_ms_per_request",
                 "cpu_system_ms_per_request", "charge_lag_s"):
        out[name] = med(name)
    out["peak_rss_mb"] = max(row["peak_rss_mb"] for row in rows)
    out["peak_threads"] = max(row["peak_threads"] for row in rows)
    if "peak_open_upstream_streams" in rows[0]:
        out["peak_open_upstream_streams"] = {
            side: min(row["peak_open_upstream_streams"][side] for row in rows) for side in ("direct", "subrelay")}
    return out


async def run_mode(mode: str, args, fake_url: str, scenarios: list[Scenario]) -> dict:
    run = ModeRun(mode, args, fake_url, scenarios)
    load_before = os.getloadavg()[0]
    others = procs.other_benches()
    upstream_before = (await fake_stats(fake_url))["requests"].get(prepare.UPSTREAM_KEY, 0)
    try:
        run.setup()
        await run.warm_up()
        per_scenario = {s.key: [] for s in scenarios}
        for _ in range(args.repeat):
            for scenario in scenarios:
                per_scenario[scenario.key].append(await run.measure(scenario))
        profiles = {}
        for key in filter(None, args.profile.split(",")):
            profiles[key] = await run.profile(catalogue(args.quick)[key], args.results_dir)
        charged, _ = wait_for_charges(mode, run.data_dir, run.succeeded, run.patience)
        stats = await fake_stats(fake_url)
        return {
            "mode": mode,
            "scenarios": {s.key: {"scenario": asdict(s), "median": aggregate(per_scenario[s.key]),
                                  "runs": per_scenario[s.key]} for s in scenarios},
            "relayed_requests": run.relayed, "completed_relayed_requests": run.succeeded,
            "usage_logs": charged,
            "upstream_saw_relayed": stats["requests"].get(prepare.UPSTREAM_KEY, 0) - upstream_before,
            "memory_after_warm_up": run.memory_after_warm_up, **procs.memory_mb(run.gateway.pid),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "other_benches": sorted(set(others + procs.other_benches())),
            "profiles": profiles,
        }
    finally:
        run.teardown()


def mode_label(mode: str) -> str:
    return {"production": "production mode (PostgreSQL + Redis)", "embedded": "embedded mode (SQLite, in-process)"}[
        mode]


def markdown(result: dict, repeat: int) -> str:
    rows = result["scenarios"]
    lines = [
        f"**{mode_label(result['mode'])}**, `manage.py serve` (uvicorn, 1 worker), {os.cpu_count()} CPU cores "
        f"shared by the fake upstream, the gateway and the load generator; "
        f"{'median of ' + str(repeat) + ' runs' if repeat > 1 else '1 run'}; 1-minute load average "
        f"{result['load_average'][0]} at start, {result['load_average'][1]} at end. Gateway CPU includes the "
        "charge (usage log + balance update) done off the request path in the same process."
        + (f" **Another benchmark was running at the same time ({len(result['other_benches'])} processes): these "
           "numbers are skewed.**" if result["other_benches"] else ""),
        "",
        "| Scenario | Requests | req/s direct → subrelay | p50 ms direct / subrelay | p95 ms direct / subrelay "
        "| Added p50 / p95 ms | TTFB p50 ms direct / subrelay | Gateway CPU ms/req | Gateway RSS MB, threads "
        "| Errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for data in rows.values():
        s, m = data["scenario"], data["median"]
        d, g = m["direct"], m["subrelay"]
        ttfb = f"{_fmt(d['ttfb_p50_ms'])} / {_fmt(g['ttfb_p50_ms'])}" if s["stream"] else "–"
        title = s["title"]
        if "peak_open_upstream_streams" in m and s["concurrency"] > 32:
            title += f" (peak open upstream: {m['peak_open_upstream_streams']['subrelay']})"
        lines.append(
            f"| {title} | {s['requests']} | {_fmt(d['rps'], 0)} → {_fmt(g['rps'], 0)} "
            f"| {_fmt(d['p50_ms'])} / {_fmt(g['p50_ms'])} | {_fmt(d['p95_ms'])} / {_fmt(g['p95_ms'])} "
            f"| {_fmt(m['added_p50_ms'])} / {_fmt(m['added_p95_ms'])} | {ttfb} "
            f"| {_fmt(m['cpu_ms_per_request'], 2)} | {m['peak_rss_mb']:.0f}, {m['peak_threads']} "
            f"| {d['errors']} / {g['errors']} |")
    lines += [
        "",
        "RSS is the gateway's peak (VmHWM) so far, threads the most seen during the scenario. "
        f"Gateway peak RSS {result['peak_rss_mb']:.0f} MB (after warm-up {result['memory_after_warm_up']['rss_mb']:.0f}"
        f" MB). Charged: {result['usage_logs']} usage log rows for {result['completed_relayed_requests']} completed "
        f"relayed requests ({result['relayed_requests']} sent, warm-up included; the upstream saw "
        f"{result['upstream_saw_relayed']}).",
    ]
    return "\n".join(lines)


def targets(result: dict) -> tuple[str, list[dict]]:
    rows = result["scenarios"]
    checks = []

    def cpu(key):
        return rows[key]["median"]["cpu_ms_per_request"] if key in rows else None

    for key in ("json_c1", "json_c32"):
        if key in rows:
            checks.append({"target": f"Gateway CPU per JSON request ≤ {TARGETS['json_cpu_ms']} ms ({key})",
                           "value": cpu(key), "limit": TARGETS["json_cpu_ms"]})
    if "stream_c32" in rows:
        checks.append({"target": f"Gateway CPU per 20-event stream ≤ {TARGETS['stream_cpu_ms']} ms",
                       "value": cpu("stream_c32"), "limit": TARGETS["stream_cpu_ms"]})
    if "json_c1" in rows:
        checks.append({"target": f"Added p50 latency at c=1 ≤ {TARGETS['added_p50_c1_ms']} ms",
                       "value": rows["json_c1"]["median"]["added_p50_ms"], "limit": TARGETS["added_p50_c1_ms"]})
    for key in ("slow_500", "cold_500"):
        if key in rows:
            m, n = rows[key]["median"], rows[key]["scenario"]["concurrency"]
            checks.append({"target": f"{n} concurrent slow streams{' after idle' if key == 'cold_500' else ''}, "
                                     "no error", "value": m["subrelay"]["errors"], "limit": 0,
                           "note": f"peak open upstream streams {m['peak_open_upstream_streams']['subrelay']}"})
    for key, baseline, ratio in RATIO_TARGETS:
        if key in rows and baseline in rows and cpu(baseline):
            checks.append({"target": f"CPU per request of {key} ≤ {ratio}x {baseline}'s",
                           "value": cpu(key) / cpu(baseline), "limit": ratio,
                           "note": f"{cpu(key):.2f} vs {cpu(baseline):.2f} ms"})
    lines = ["| Target | Measured | Met |", "|---|---:|:---:|"]
    for c in checks:
        c["met"] = c["value"] is not None and c["value"] <= c["limit"]
        value = c["value"] if isinstance(c["value"], int) else _fmt(c["value"], 2)
        note = f" ({c['note']})" if c.get("note") else ""
        lines.append(f"| {c['target']} | {value}{note} | {'yes' if c['met'] else '**no**'} |")
    return "\n".join(lines), checks


def problems(result: dict) -> list[str]:
    """What makes the run invalid (not slow: wrong). The exit status is 1 when there is any."""
    out = []
    for key, data in result["scenarios"].items():
        m = data["median"]
        for side in ("direct", "subrelay"):
            if m[side]["errors"]:
                out.append(f"{result['mode']} {key}: {m[side]['errors']} {side} errors")
    if result["usage_logs"] != result["completed_relayed_requests"]:
        out.append(f"{result['mode']}: {result['usage_logs']} usage log rows for "
                   f"{result['completed_relayed_requests']} completed relayed requests")
    if result["upstream_saw_relayed"] < result["completed_relayed_requests"]:
        out.append(f"{result['mode']}: the upstream saw {result['upstream_saw_relayed']} relayed requests, fewer than "
                   f"{result['completed_relayed_requests']} completed")
    return out


def code_version() -> dict:
    """Which code was measured: the commit and the files changed since (the tree is often dirty)."""
    def git(*argv):
        proc = subprocess.run(["git", *argv], cwd=prepare.ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "changed_files": len(git("status", "--porcelain").splitlines())}


def catalogue(quick: bool) -> dict[str, Scenario]:
    return {s.key: s for s in (QUICK if quick else FULL) + EXTRA}


async def main_async(args) -> int:
    known = catalogue(args.quick)
    wanted = [k for k in args.scenarios.split(",") if k] or [s.key for s in (QUICK if args.quick else FULL)]
    unknown = [k for k in wanted + args.profile.split(",") if k and k not in known]
    if unknown:
        sys.exit(f"unknown scenario(s) {unknown}; known: {list(known)}")
    scenarios = [known[k] for k in wanted]
    modes = resolve_modes(args.mode)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    fake_log = args.results_dir / f"fake-upstream-{stamp}.log"
    fake, fake_port = procs.start_fake(fake_log)
    fake_url = f"http://127.0.0.1:{fake_port}"
    report = {"started": stamp, "argv": sys.argv[1:], "quick": args.quick, "repeat": args.repeat,
              "cpus": os.cpu_count(), "python": platform.python_version(), "code": code_version(), "modes": []}
    texts, all_problems = [], []
    try:
        for mode in modes:
            result = await run_mode(mode, args, fake_url, scenarios)
            table, checks = targets(result)
            result["targets"] = checks
            report["modes"].append(result)
            all_problems += problems(result)
            text = markdown(result, args.repeat) + "\n\n" + table
            for key, summary in result["profiles"].items():
                if summary:
                    text += f"\n\nWhere the gateway's CPU went ({key}, {result['mode']}):\n\n" + \
                            profile.as_markdown(summary)
            texts.append(text)
    finally:
        if not args.keep_running:
            procs.stop(fake)
        else:
            print(f"fake upstream left running: {fake_url}", flush=True)
    report["problems"] = all_problems
    out = args.results_dir / f"bench-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    markdown_out = "\n\n".join(texts)
    out.with_suffix(".md").write_text(markdown_out + "\n")
    print("\n" + markdown_out + "\n")
    print(f"Results: {out}")
    for problem in all_problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if all_problems else 0


def main(argv=None):
    args = parse_args(argv)
    try:
        from uvloop import run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    try:
        sys.exit(run(main_async(args)))
    except RuntimeError as exc:  # a process did not start or the gateway failed the warm-up
        sys.exit(f"bench failed: {exc}")
