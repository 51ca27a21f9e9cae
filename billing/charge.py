"""THE one charge transaction (DESIGN "Data", spec §2.14 step 5, S4, S7).

For one gateway request, in ONE database transaction: insert the usage log (unique request id + key,
so a repeated charge is a no-op), take the cost off the user's balance or add it to the subscription
windows, add it to the key's quota, add the account cost to the account's quota. Every counter is a
single UPDATE computed by the database on the row's current value (nano-dollars), so parallel charges sum
exactly.

Charges run after the response, on a small thread pool (`CHARGE_WORKERS`), off the client's path. A
submitted charge is kept until it ran: `drain()` waits for all of them (ASGI shutdown, tests).
"""

import asyncio
import copy
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, close_old_connections, connection, connections, transaction
from django.utils import timezone

from billing import prices, subscriptions
from billing.cost import Usage, compute
from core.money import nanos

log = logging.getLogger(__name__)


@dataclass
class ChargeRequest:
    """Everything the charge needs, collected by the gateway before the response ended."""

    request_id: str
    api_key_id: int
    key_hash: str
    key_quota: Decimal
    user_id: int
    group_id: int | None
    account: object | None  # accounts.models.Account as selected (limits, type, rate multiplier)
    model: str
    usage: Usage
    rate_multiplier: Decimal = Decimal(1)
    subscription_id: int | None = None  # set iff the request is billed to a subscription
    upstream_model: str | None = None
    cache_ttl_overridden: bool = False
    stream: bool = False
    duration_ms: int | None = None
    first_token_ms: int | None = None
    status: int = 200
    endpoint: str = "/v1/messages"
    user_agent: str = ""
    ip_address: str = ""
    created_at: object = field(default_factory=timezone.now)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


@lru_cache(maxsize=4)
def _statements(vendor: str) -> dict:
    """The statements every charge runs, written once per database vendor.

    Plain SQL rather than the ORM because they run for every request, and each is computed by the
    database on the row's current values (no read-modify-write). The counter updates name the column they
    return; how they are run (one statement or one after the other) is `_run`'s business.
    """
    from apikeys.models import ApiKey
    from billing.models import UsageLog
    from users.models import User

    fields = [f for f in UsageLog._meta.concrete_fields if not f.primary_key]
    log_columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    used, quota, status = (_column(ApiKey, n) for n in ("quota_used", "quota", "status"))
    balance = _column(User, "balance")
    return {
        "log_fields": fields,
        "insert_log": (
            f"INSERT INTO {_table(UsageLog)} ({log_columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({_column(UsageLog, 'request_id')}, {_column(UsageLog, 'api_key')}) DO NOTHING "
            f"RETURNING {_column(UsageLog, 'id')}"
        ),
        "take_balance": (
            f"UPDATE {_table(User)} SET {balance} = {balance} - %s WHERE {_column(User, 'id')} = %s",
            balance,
        ),
        # The status flips only from active, only when this charge reaches the quota (S7 follow-up).
        "charge_key": (
            f"UPDATE {_table(ApiKey)} SET {used} = {used} + %s, "
            f"{status} = CASE WHEN {status} = %s AND {quota} > 0 AND {used} + %s >= {quota} THEN %s "
            f"ELSE {status} END WHERE {_column(ApiKey, 'id')} = %s",
            status,
        ),
    }


@lru_cache(maxsize=8)
def _one_statement(counters: tuple[str, ...]) -> str:
    """PostgreSQL: the log insert and the counter updates as ONE statement, so one round trip, atomic by
    itself. The updates see the insert's result and run only when it inserted (a repeat moves nothing)."""
    sql = _statements("postgresql")
    parts = [f"log AS ({sql['insert_log']})"]
    for name in counters:
        update, returning = sql[name]
        parts.append(f"{name} AS ({update} AND EXISTS (SELECT 1 FROM log) RETURNING {returning})")
    results = ", ".join(f"(SELECT * FROM {name})" for name in ("log", *counters))
    return f"WITH {', '.join(parts)} SELECT {results}"


def _run(conn, insert_params: list, counters: dict[str, list]) -> list | None:
    """Insert the log and move `counters` (statement name -> params); returns the log id followed by
    each counter's returned value, or None when the request was charged before."""
    if conn.vendor == "postgresql":
        params = insert_params + [p for values in counters.values() for p in values]
        with conn.cursor() as cursor:
            cursor.execute(_one_statement(tuple(counters)), params)
            row = cursor.fetchone()
        return None if row[0] is None else list(row)
    # SQLite has no data-modifying WITH: the same statements one after the other, in the caller's transaction.
    sql = _statements(conn.vendor)
    with conn.cursor() as cursor:
        cursor.execute(sql["insert_log"], insert_params)
        row = cursor.fetchone()
        if row is None:
            return None
        results = [row[0]]
        for name, params in counters.items():
            update, returning = sql[name]
            cursor.execute(f"{update} RETURNING {returning}", params)
            row = cursor.fetchone()
            results.append(row[0] if row else None)
    return results


def build_log(req: ChargeRequest):
    """The usage log row of a request, with its cost (not saved)."""
    from billing.models import UsageLog

    upstream_model = req.upstream_model if req.upstream_model and req.upstream_model != req.model else None
    price, fallback = prices.lookup(req.model, upstream_model or "")
    cost = compute(req.usage, price, req.rate_multiplier)
    account = req.account
    usage = req.usage
    return UsageLog(
        request_id=req.request_id, user_id=req.user_id, api_key_id=req.api_key_id,
        account_id=account.pk if account is not None else None, group_id=req.group_id,
        subscription_id=req.subscription_id, model=req.model[:100],
        upstream_model=upstream_model[:100] if upstream_model else None,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens, cache_creation_tokens=usage.cache_creation_tokens,
        cache_creation_5m_tokens=usage.cache_creation_5m_tokens,
        cache_creation_1h_tokens=usage.cache_creation_1h_tokens,
        input_cost=cost.input_cost, output_cost=cost.output_cost, cache_read_cost=cost.cache_read_cost,
        cache_creation_cost=cost.cache_creation_cost, total_cost=cost.total_cost, actual_cost=cost.actual_cost,
        rate_multiplier=cost.rate_multiplier,
        account_rate_multiplier=account.cost_multiplier if account is not None else Decimal(1),
        billing_type=UsageLog.BillingType.SUBSCRIPTION if req.subscription_id else UsageLog.BillingType.BALANCE,
        stream=req.stream, duration_ms=req.duration_ms, first_token_ms=req.first_token_ms, status=req.status,
        endpoint=req.endpoint[:100], user_agent=req.user_agent[:512], ip_address=req.ip_address[:45],
        cache_ttl_overridden=req.cache_ttl_overridden, priced_by_fallback=fallback, created_at=req.created_at,
    )


def charge(req: ChargeRequest):
    """Apply one request's charge; returns the new UsageLog, or None if this request was charged before."""
    from accounts.models import Account
    from apikeys import cache
    from apikeys.models import ApiKey
    from users.models import Subscription

    conn = connections[DEFAULT_DB_ALIAS]  # once: every `connection.x` goes through a context-local lookup
    entry = build_log(req)
    sql = _statements(conn.vendor)
    params = [f.get_db_prep_save(getattr(entry, f.attname), conn) for f in sql["log_fields"]]
    now = timezone.now()
    counters = {}
    delta = nanos(entry.actual_cost)
    if not req.subscription_id and delta > 0:
        counters["take_balance"] = [delta, req.user_id]
    if req.key_quota > 0 and delta > 0:
        counters["charge_key"] = [delta, ApiKey.Status.ACTIVE, delta, ApiKey.Status.QUOTA_EXHAUSTED, req.api_key_id]
    charge_subscription = bool(req.subscription_id) and entry.total_cost > 0
    account = req.account
    charge_account = isinstance(account, Account) and account.has_quota and entry.total_cost > 0
    # One PostgreSQL statement is a transaction of its own; anything more runs in one.
    alone = conn.vendor == "postgresql" and not (charge_subscription or charge_account)
    with nullcontext() if alone else transaction.atomic():
        results = _run(conn, params, counters)
        if results is None:
            log.info("request %s was already charged", req.request_id)
            return None
        entry.pk = results[0]
        entry._state.adding = False
        returned = dict(zip(counters, results[1:], strict=True))

        balance = returned.get("take_balance")
        if balance is not None and balance <= 0:
            # The cached auth snapshot still shows the old balance: make the next request see it.
            user_id = req.user_id
            transaction.on_commit(lambda: cache.invalidate_user(user_id))
        if returned.get("charge_key") == ApiKey.Status.QUOTA_EXHAUSTED:
            key_hash = req.key_hash
            transaction.on_commit(lambda: cache.invalidate_key(key_hash))

        if charge_subscription:
            Subscription.objects.filter(pk=req.subscription_id).update(
                **subscriptions.increment_updates(entry.total_cost, now)
            )
        if charge_account:
            # A copy: the scheduler shares its account objects between requests.
            copy.copy(account).charge_quota(entry.total_cost * entry.account_rate_multiplier, now)
    return entry


# --- running charges off the request path ---------------------------------------------------------
_executor: ThreadPoolExecutor | None = None
_pending: set[Future] = set()
LOCK_RETRIES = 5


def _charge_with_retries(req: ChargeRequest):
    try:
        for attempt in range(LOCK_RETRIES):
            try:
                return charge(req)
            except OperationalError:
                # SQLite answers "database is locked" once its busy timeout is over; nothing was written.
                connection.close()
                if attempt == LOCK_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
    except Exception:
        log.exception("charge of request %s failed", req.request_id)
        connection.close()
        raise
    finally:
        # A pooled PostgreSQL connection goes back to the pool; a charge thread keeps its SQLite one
        # (opening SQLite costs more than the charge itself).
        if connection.vendor != "sqlite":
            close_old_connections()


def submit(req: ChargeRequest) -> Future:
    """Queue a charge; it runs on the charge thread pool and is tracked until done."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.CHARGE_WORKERS, thread_name_prefix="charge")
    future = _executor.submit(_charge_with_retries, req)
    _pending.add(future)
    future.add_done_callback(_pending.discard)
    return future


async def drain():
    """Wait until every submitted charge has run (whatever event loop or thread submitted it)."""
    while _pending:
        await asyncio.gather(*(asyncio.wrap_future(f) for f in list(_pending)), return_exceptions=True)


def drain_sync(timeout: float = 60.0):
    from concurrent.futures import wait

    deadline = time.monotonic() + timeout
    while _pending and time.monotonic() < deadline:
        wait(list(_pending), timeout=max(deadline - time.monotonic(), 0))
