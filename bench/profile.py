"""Summaries of a py-spy raw (collapsed stacks) profile: where the gateway's samples went."""

import re
from collections import Counter
from pathlib import Path

OUR_APPS = ("gateway", "apikeys", "billing", "accounts", "users", "groups", "config")
# Frames every sample passes through; they say nothing about where the time goes.
GENERIC = re.compile(r"(threading\.py|concurrent/futures/thread\.py|asyncio/(runners|base_events|events)\.py"
                     r"|uvicorn/(main|_compat|server)\.py|django/core/management/|manage\.py|gateway/management/)")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _parse(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m["func"], m["file"]


def _area(path: str) -> str:
    """A short name for the code a frame belongs to: a third-party package or one of our apps."""
    path = path.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in path:
        return "stdlib:" + path.rsplit("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
    parts = path.split("/")
    for app in OUR_APPS:
        if app in parts:
            return app
    return path or "?"


def summarize(path: Path, top: int = 20) -> dict:
    """Self and inclusive sample shares per function, and self share per package/app."""
    self_funcs, incl_funcs, ours, areas, buckets = Counter(), Counter(), Counter(), Counter(), Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():  # py-spy may read garbage names
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_parse(f) for f in stack.split(";")]
        frames = [f for f in frames if not f[0].startswith("process ") and not f[0].startswith("thread ")]
        if not frames:
            continue
        func, file = frames[-1]
        self_funcs[f"{func} ({_short(file)})"] += n
        buckets[_bucket(frames)] += n
        areas[_area(file)] += n
        for name, file in {(f"{f} ({_short(p)})", p) for f, p in frames}:
            if not GENERIC.search(file):
                incl_funcs[name] += n
                if _area(file) in OUR_APPS:
                    ours[name] += n

    def share(counter):
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)] if total else []

    return {"samples": total, "self": share(self_funcs), "inclusive": share(incl_funcs),
            "inclusive_ours": share(ours), "by_area": share(areas), "by_component": share(buckets)}


def _bucket(frames: list[tuple[str, str]]) -> str:
    """The component a sample's CPU belongs to: charges as a whole (they run in their own threads),
    else the innermost frame outside the standard library (so socket writes count for their client)."""
    if any(_area(file) == "billing" and file.endswith(("charge.py", "settlement.py")) for _, file in frames):
        return "billing.charge (charge threads: ORM + database driver)"
    for _, file in reversed(frames):
        area = _area(file)
        if not area.startswith("stdlib:") and not area.startswith("<"):
            return area
    return "stdlib only (event loop, thread start/stop)"


def _short(path: str) -> str:
    path = path.replace("\\", "/")
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    if "/lib/python3" in path:
        return path.rsplit("/lib/python3", 1)[1].split("/", 1)[-1]
    return path


def as_markdown(summary: dict) -> str:
    lines = [f"py-spy samples holding the GIL: {summary['samples']}", "",
             "| % | Component (standard-library time counted for its caller) |", "|---:|---|"]
    lines += [f"| {pct} | {name} |" for name, pct in summary.get("by_component", [])]
    lines += ["", "| Self % | Function |", "|---:|---|"]
    lines += [f"| {pct} | `{name}` |" for name, pct in summary["self"]]
    lines += ["", "| Inclusive % | Function |", "|---:|---|"]
    lines += [f"| {pct} | `{name}` |" for name, pct in summary["inclusive"]]
    lines += ["", "| Inclusive % | subrelay function |", "|---:|---|"]
    lines += [f"| {pct} | `{name}` |" for name, pct in summary.get("inclusive_ours", [])]
    lines += ["", "| Self % | Package / app |", "|---:|---|"]
    lines += [f"| {pct} | {name} |" for name, pct in summary["by_area"]]
    return "\n".join(lines)
