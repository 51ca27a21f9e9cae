"""How a charge is never lost (DESIGN "Data", spec §2.14 step 5): settled before the answer it pays for
is delivered, kept when the database refuses it, journaled when the database cannot take it.

Charges are applied by charge threads, every charge waiting at that moment in one transaction (a group
commit: one commit and one write lock for many requests, billing.charge.charge_together). The gateway
awaits a delivered answer's charge (`settle`) before the answer's last bytes leave, so a killed process
loses no charge for an answer a client received in full. A charge the database refuses (bad data) is kept
as a FailedCharge for the admin; one the database cannot take (down, locked past the retries) is journaled
in DATA_DIR and replayed (`replay_journal`). `drain()` waits for every charge submitted (ASGI shutdown,
tests).
"""

import asyncio
import json
import logging
import os
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from billing.charge import ChargeRequest, charge_together
from billing.cost import Usage

log = logging.getLogger(__name__)

_pending: set[Future] = set()
RETRIES = 5
# Errors that say the database could not take the charge now (locked, gone): retried, then journaled.
RETRYABLE = (OperationalError, InterfaceError)
JOURNAL = "pending-charges.jsonl"


def _storable(value):
    """Text any database and JSON column takes: what cannot be UTF-8 (a lone surrogate) written as an escape."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    return value


def to_payload(req: ChargeRequest) -> dict:
    data = {f.name: getattr(req, f.name) for f in fields(ChargeRequest) if f.name not in ("account", "usage")}
    data["account_id"] = req.account.pk if req.account is not None else None
    data["usage"] = asdict(req.usage)
    data["created_at"] = req.created_at.isoformat()
    return _storable(json.loads(json.dumps(data, default=str)))  # Decimals as strings


def from_payload(data: dict) -> ChargeRequest:
    from accounts.models import Account

    data = dict(data)
    account_id = data.pop("account_id", None)
    usage = Usage(**data.pop("usage"))
    for name in ("key_quota", "rate_multiplier"):
        data[name] = Decimal(data[name])
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    account = Account.objects.filter(pk=account_id).first() if account_id else None
    return ChargeRequest(**data, usage=usage, account=account)


def _journal_path() -> Path:
    return Path(settings.DATA_DIR) / JOURNAL


_journal_lock = threading.Lock()


def _journal(reqs: list[ChargeRequest], error: str) -> None:
    """The database is unreachable: keep the charges in DATA_DIR (fsynced) until `replay_journal` applies them."""
    _journal_line("\n".join(json.dumps({"payload": to_payload(req), "error": error}) for req in reqs))


def _journal_line(line: str) -> None:
    line = line.rstrip("\n") + "\n"
    with _journal_lock:
        fd = os.open(_journal_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def dead_letter(req: ChargeRequest, error: str) -> None:
    """A charge the transaction refused: kept in FailedCharge for the admin (or the journal, if even that fails)."""
    from billing.models import FailedCharge

    try:
        FailedCharge.objects.create(request_id=req.request_id[:100], payload=to_payload(req), error=error[:4000])
        log.error("charge of request %s failed and was kept as a failed charge: %s", req.request_id, error)
    except Exception:
        log.exception("could not keep the failed charge of %s in the database; journaled", req.request_id)
        _journal([req], error)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".encode("utf-8", "backslashreplace").decode()


def settle_sync(req: ChargeRequest):
    """Apply the charge, retrying what the database could not take now; never lose it: a refused charge
    becomes a FailedCharge, an unreachable database a journal line. Returns the UsageLog or None."""
    return settle_together([req])[0]


def settle_together(reqs: list[ChargeRequest]) -> list:
    """Settle several charges with one commit, as `settle_sync` settles one. When the database refuses the
    batch (one bad charge), nothing of it was written: each is settled on its own, so only the bad one is
    kept aside. Returns each one's UsageLog or None."""
    try:
        for attempt in range(RETRIES):
            try:
                entries = charge_together(reqs)
            except RETRYABLE as exc:
                # SQLite answers "database is locked" once its busy timeout is over; nothing was written.
                connection.close()
                if attempt == RETRIES - 1:
                    log.exception("%d charges: the database did not take them; journaled", len(reqs))
                    _journal(reqs, error_text(exc))
                    return [None] * len(reqs)
                time.sleep(0.05 * (attempt + 1))
            else:
                _replay_soon()
                return entries
    except Exception as exc:
        connection.close()
        if len(reqs) == 1:
            dead_letter(reqs[0], error_text(exc))
            return [None]
        log.info("%d charges could not be applied together (%s); applying them one by one",
                 len(reqs), error_text(exc))
        return [settle_sync(req) for req in reqs]
    finally:
        # A pooled PostgreSQL connection goes back to the pool; a charge thread keeps its SQLite one
        # (opening SQLite costs more than the charge itself).
        if connection.vendor != "sqlite":
            close_old_connections()


# Charges wait here for a charge thread. A thread takes every charge waiting (up to BATCH_MAX) and settles
# them together: under load one commit serves many requests (SQLite takes one writer at a time, so the
# requests of a busy process no longer queue for its write lock one commit each).
_queue: queue.SimpleQueue = queue.SimpleQueue()
_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()
BATCH_MAX = 200


def _charge_thread() -> None:
    while True:
        batch = [_queue.get()]
        while len(batch) < BATCH_MAX:
            try:
                batch.append(_queue.get_nowait())
            except queue.Empty:
                break
        futures = [future for _, future in batch]
        try:
            results = settle_together([req for req, _ in batch])
        except BaseException as exc:  # a bug, not a database answer: the waiting requests must hear of it
            log.exception("charge thread failed on %d charges", len(batch))
            for future in futures:
                future.set_exception(exc)
            continue
        for future, result in zip(futures, results, strict=True):
            future.set_result(result)


def _start_threads() -> None:
    with _threads_lock:
        if _threads:
            return
        # SQLite writes one transaction at a time: more threads would only wait for each other's lock.
        count = 1 if connection.vendor == "sqlite" else max(settings.CHARGE_WORKERS, 1)
        for number in range(count):
            thread = threading.Thread(target=_charge_thread, name=f"charge-{number}", daemon=True)
            thread.start()
            _threads.append(thread)


def _forget_threads() -> None:
    """In a forked child the parent's charge threads do not exist: start its own, with its own queue."""
    global _queue, _threads_lock
    _queue, _threads_lock = queue.SimpleQueue(), threading.Lock()
    _threads.clear()
    _pending.clear()


os.register_at_fork(after_in_child=_forget_threads)


def submit(req: ChargeRequest) -> Future:
    """Queue a charge for the charge threads; it is tracked until done (`drain`) and cannot be cancelled
    (a charge nobody waits for any more is still a charge)."""
    if not _threads:
        _start_threads()
    future = Future()
    future.set_running_or_notify_cancel()
    _pending.add(future)
    future.add_done_callback(_pending.discard)
    _queue.put((req, future))
    return future


async def settle(req: ChargeRequest):
    """The charge, settled (applied or kept) before the caller goes on: an answer's last bytes wait for
    it, so a process killed after a client got its whole answer has already charged it. A caller that is
    cancelled meanwhile does not stop the charge."""
    return await asyncio.shield(asyncio.wrap_future(submit(req)))


_last_replay_check = 0.0
REPLAY_CHECK_EVERY = 10.0


def journal_waiting() -> bool:
    return _journal_path().exists()


def _replay_soon() -> None:
    """After a charge went through, the database is back: apply what was journaled meanwhile (checked at
    most every REPLAY_CHECK_EVERY seconds; a file check, no query)."""
    global _last_replay_check
    now = time.monotonic()
    if now - _last_replay_check < REPLAY_CHECK_EVERY:
        return
    _last_replay_check = now
    if journal_waiting():
        replay_journal()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_journal() -> list[Path]:
    """The journal, and what a process that died while replaying had taken, each renamed to a name of
    this replay's own (a rename is atomic: two replayers never take the same file)."""
    path = _journal_path()
    candidates = [path] if path.exists() and path.stat().st_size else []
    for left in path.parent.glob(f"{path.stem}.replaying-*"):
        pid = left.name.rpartition(".replaying-")[2].partition("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            candidates.append(left)
    taken = []
    for candidate in candidates:
        mine = path.with_suffix(f".replaying-{os.getpid()}-{uuid.uuid4().hex}")
        try:
            os.rename(candidate, mine)
        except FileNotFoundError:
            continue  # another replay took it
        taken.append(mine)
    return taken


def replay_journal() -> int:
    """Apply the journaled charges (a periodic task, and at start-up); returns how many were settled."""
    settled = 0
    for taken in _take_journal():
        for line in taken.read_text().splitlines():
            try:
                req = from_payload(json.loads(line)["payload"])
            except (ValueError, KeyError, TypeError):
                log.error("unreadable journaled charge kept aside: %r", line[:200])
                with _journal_path().with_suffix(".unreadable").open("a") as out:
                    out.write(line + "\n")
                continue
            except Exception as exc:  # the database is not there yet: keep it for the next replay
                log.warning("journaled charge not replayed yet: %s", error_text(exc))
                _journal_line(line)
                continue
            settle_sync(req)  # charged once (idempotent by request id); refused → FailedCharge; down → journal
            settled += 1
        taken.unlink()
    return settled


async def drain():
    """Wait until every submitted charge has run (whatever event loop or thread submitted it)."""
    while _pending:
        await asyncio.gather(*(asyncio.wrap_future(f) for f in list(_pending)), return_exceptions=True)


def drain_sync(timeout: float = 60.0):
    from concurrent.futures import wait

    deadline = time.monotonic() + timeout
    while _pending and time.monotonic() < deadline:
        wait(list(_pending), timeout=max(deadline - time.monotonic(), 0))
