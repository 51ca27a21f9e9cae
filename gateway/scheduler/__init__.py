"""The scheduler: which upstream account serves a request (choice.py), from cached candidate lists
(snapshot.py), with sticky sessions (sticky.py) and a batched last-use order (lastused.py)."""

from gateway.scheduler.choice import Lease, NoAccountAvailable, SelectionRequest, select_account
from gateway.scheduler.lastused import flush_last_used, note_used
from gateway.scheduler.snapshot import invalidate
from gateway.scheduler.sticky import bound_account


def on_scheduling_changed(sender=None, **kwargs):
    """accounts.signals.scheduling_changed: an account, group or membership changed."""
    invalidate()


__all__ = [
    "Lease", "NoAccountAvailable", "SelectionRequest", "bound_account", "flush_last_used", "invalidate",
    "note_used", "on_scheduling_changed", "select_account",
]
