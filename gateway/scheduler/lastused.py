"""Accounts' last use: kept in memory for this process's least-recently-used order, written to the
database in batches (at most every LAST_USED_FLUSH_INTERVAL seconds, and by a periodic task)."""

import asyncio
import time
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from core import db

_last_used: dict[int, datetime] = {}
_pending: dict[int, datetime] = {}
_last_flush = time.monotonic()
_flush_tasks: set = set()


def note_used(account) -> None:
    global _last_flush
    now = timezone.now()
    account.last_used_at = now  # the snapshot object: this process's LRU order sees it at once
    _last_used[account.pk] = _pending[account.pk] = now
    if time.monotonic() - _last_flush >= settings.LAST_USED_FLUSH_INTERVAL:
        _last_flush = time.monotonic()
        try:
            task = asyncio.get_running_loop().create_task(db.run(flush_last_used))
        except RuntimeError:
            flush_last_used()
            return
        _flush_tasks.add(task)
        task.add_done_callback(_flush_tasks.discard)


def seen_here(account_id: int) -> datetime | None:
    """The last use this process noted (it may be newer than what the database says)."""
    return _last_used.get(account_id)


def flush_last_used() -> int:
    """Write the pending last-use times in one UPDATE (also a periodic task for the embedded mode)."""
    from django.db.models import Case, F, Value, When

    from accounts.models import Account

    pending = dict(_pending)
    for pk, when in pending.items():
        if _pending.get(pk) == when:
            _pending.pop(pk, None)
    if not pending:
        return 0
    whens = [When(pk=pk, then=Value(when)) for pk, when in pending.items()]
    return Account.objects.filter(pk__in=pending).update(last_used_at=Case(*whens, default=F("last_used_at")))


def forget() -> None:
    """Tests: start from nothing."""
    _last_used.clear()
    _pending.clear()
