"""The bench's child processes (fake upstream, gateway, py-spy) and what /proc says about them."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.prepare import ROOT

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake(log: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.fake_upstream", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=log.open("ab"), text=True)
    line = proc.stdout.readline()  # the fake prints nothing after this line, so the pipe never fills
    if not line.startswith("READY "):
        stop(proc)
        raise RuntimeError(f"fake upstream did not start: {line!r}, see {log}")
    return proc, int(line.split()[1])


def start_gateway(env: dict, port: int, log: Path, asgi: str = "") -> subprocess.Popen:
    """`manage.py serve` (uvicorn, one worker) as production runs it; waits for /healthz.

    `asgi` ("module:attribute") serves another ASGI application with serve's uvicorn options instead,
    to measure a candidate change of the handler without touching the code under test.
    """
    if asgi:
        command = ["-m", "uvicorn", asgi, "--loop", "uvloop", "--http", "httptools", "--lifespan", "on",
                   "--no-access-log", "--timeout-keep-alive", "75", "--log-level", "warning"]
    else:
        command = ["manage.py", "serve", "--workers", "1"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"gateway did not answer /healthz within 60 s, see {log}")


def stop(proc: subprocess.Popen | None, sig=signal.SIGTERM, timeout: float = 15):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tree(pid: int) -> list[int]:
    """pid and its descendants (uvicorn with one worker has none, but a future setup might)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process tree, all threads, exited ones included."""
    user = system = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime: fields 14, 15 of stat(5)
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree, in seconds."""
    return sum(cpu_times(pid))


def memory_mb(pid: int) -> dict:
    """Current (VmRSS) and peak (VmHWM) resident memory of the process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return {"rss_mb": round(values.get("VmRSS", 0), 1), "peak_rss_mb": round(values.get("VmHWM", 0), 1)}


def other_benches() -> list[str]:
    """Command lines of benchmark processes not started by this run: they skew every number."""
    ours = set(_tree(os.getpid())) | _ancestors(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in ours:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "bench.fake_upstream" in cmdline or " -m bench" in cmdline:
            found.append(cmdline.strip())
    return found


def _ancestors(pid: int) -> set[int]:
    """The processes that started this one (`timeout`, `make`, a shell): their command lines name the bench."""
    out = set()
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        out.add(pid)
    return out


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


async def sample_threads(pid: int, peak: list[int], interval: float = 0.05):
    """Keep peak[0] at the largest thread count seen until cancelled (threads come and go per request)."""
    while True:
        peak[0] = max(peak[0], threads(pid))
        await asyncio.sleep(interval)


def start_profiler(pid: int, out: Path) -> subprocess.Popen | None:
    """py-spy in raw (collapsed stacks) format; stopped with SIGINT, after which it writes `out`.

    `--gil` keeps only samples of the thread holding the GIL: in a GIL-bound process that is where the
    CPU goes (threads waiting on a socket or a lock would otherwise show up as busy).
    """
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        return None
    return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                             "--gil", "--full-filenames", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=out.with_suffix(".log").open("wb"))
