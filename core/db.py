"""Database work of the gateway's async code: on a worker thread, and never holding a connection after.

The gateway's request cycle (config.asgi.GatewayASGIHandler) sends no `request_started` or
`request_finished`, so nothing would return a connection the worker thread opened. Every sync function
the gateway runs for the database goes through `run`, which gives its connection back (to the pool, or
closes SQLite) as soon as the function is done, so a long stream never sits on one.
"""

from asgiref.sync import sync_to_async
from django.db import connections


def _give_back_connections():
    for conn in connections.all(initialized_only=True):
        # A connection inside a caller's transaction (a test, a command) is the caller's to close.
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def _with_fresh_connection(fn, args, kwargs):
    _give_back_connections()  # one that broke since its last use is replaced rather than failing this call
    try:
        return fn(*args, **kwargs)
    finally:
        _give_back_connections()


async def run(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` on the gateway's database thread (asgiref's thread-sensitive one)."""
    return await sync_to_async(_with_fresh_connection)(fn, args, kwargs)
