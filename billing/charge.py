"""THE one charge transaction (DESIGN "Data", spec §2.14 step 5, S4, S7), and how it is never lost.

For one gateway request, in ONE database transaction: insert the usage log (unique request id + key,
so a repeated charge is a no-op), take the cost off the user's balance or add it to the subscription
windows, add it to the key's quota and spend windows (apikeys.windows), add the account cost to the
account's quota. Every counter is a single UPDATE computed by the database on the row's current value
(nano-dollars), so parallel charges sum exactly.

Several requests' charges can share one transaction (`charge_together`, the group commit of
billing.settlement); how a charge is never lost is billing.settlement's business.
"""

import copy
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from apikeys import windows
from billing import prices, subscriptions
from billing.cost import Usage, compute
from core.money import from_nanos, nanos

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
    usage_incomplete: bool = False  # the client left and the final usage could not be read in time
    key_windows: bool = False  # the key has a spend window limit (apikeys.windows)
    created_at: object = field(default_factory=timezone.now)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


@lru_cache(maxsize=4)
def _statements(vendor: str) -> dict:
    """The statements every charge runs, written once per database vendor.

    Plain SQL rather than the ORM because they run for every request, and each is computed by the
    database on the row's current values (no read-modify-write). The counter updates name the columns they
    return; how they are run (one statement or one after the other) is `_run`'s business.
    """
    from apikeys.models import ApiKey
    from billing.models import UsageLog
    from users.models import User

    fields = [f for f in UsageLog._meta.concrete_fields if not f.primary_key]
    log_columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    used, quota, status = (_column(ApiKey, n) for n in ("quota_used", "quota", "status"))
    balance = _column(User, "balance")
    window_set, window_returning = windows.charge_sql(lambda name: _column(ApiKey, name))
    return {
        "log_fields": fields,
        "insert_log": (
            f"INSERT INTO {_table(UsageLog)} ({log_columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({_column(UsageLog, 'request_id')}, {_column(UsageLog, 'api_key')}) DO NOTHING "
            f"RETURNING {_column(UsageLog, 'id')}"
        ),
        "take_balance": (
            f"UPDATE {_table(User)} SET {balance} = {balance} - %s WHERE {_column(User, 'id')} = %s",
            (balance,),
        ),
        # The status flips only from active, only when this charge reaches the quota (S7 follow-up).
        "charge_key": (
            f"UPDATE {_table(ApiKey)} SET {used} = {used} + %s, "
            f"{status} = CASE WHEN {status} = %s AND {quota} > 0 AND {used} + %s >= {quota} THEN %s "
            f"ELSE {status} END WHERE {_column(ApiKey, 'id')} = %s",
            (status, used),
        ),
        # A key with spend windows: its quota (if any) and every limited window in one UPDATE.
        "charge_key_windows": (
            f"UPDATE {_table(ApiKey)} SET {used} = {used} + CASE WHEN {quota} > 0 THEN %s ELSE 0 END, "
            f"{status} = CASE WHEN {status} = %s AND {quota} > 0 AND {used} + %s >= {quota} THEN %s "
            f"ELSE {status} END, {window_set} WHERE {_column(ApiKey, 'id')} = %s",
            (status, used, *window_returning),
        ),
    }


@lru_cache(maxsize=8)
def _one_statement(counters: tuple[str, ...]) -> str:
    """PostgreSQL: the log insert and the counter updates as ONE statement, so one round trip, atomic by
    itself. The updates see the insert's result and run only when it inserted (a repeat moves nothing)."""
    sql = _statements("postgresql")
    parts = [f"log AS ({sql['insert_log']})"]
    selected = ["(SELECT * FROM log)"]
    for name in counters:
        update, returning = sql[name]
        parts.append(f"{name} AS ({update} AND EXISTS (SELECT 1 FROM log) RETURNING {', '.join(returning)})")
        selected += [f"(SELECT {column} FROM {name})" for column in returning]
    return f"WITH {', '.join(parts)} SELECT {', '.join(selected)}"


def _run(conn, insert_params: list, counters: dict[str, list]) -> tuple[int, dict[str, tuple]] | None:
    """Insert the log and move `counters` (statement name -> params); returns the log id and each
    counter's returned columns, or None when the request was charged before."""
    sql = _statements(conn.vendor)
    if conn.vendor == "postgresql":
        params = insert_params + [p for values in counters.values() for p in values]
        with conn.cursor() as cursor:
            cursor.execute(_one_statement(tuple(counters)), params)
            row = cursor.fetchone()
        if row[0] is None:
            return None
        values, returned = iter(row[1:]), {}
        for name in counters:
            returned[name] = tuple(next(values) for _ in sql[name][1])
        return row[0], returned
    # SQLite has no data-modifying WITH: the same statements one after the other, in the caller's transaction.
    with conn.cursor() as cursor:
        cursor.execute(sql["insert_log"], insert_params)
        row = cursor.fetchone()
        if row is None:
            return None
        log_id, returned = row[0], {}
        for name, params in counters.items():
            update, returning = sql[name]
            cursor.execute(f"{update} RETURNING {', '.join(returning)}", params)
            returned[name] = cursor.fetchone() or (None,) * len(returning)
    return log_id, returned


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
        cache_ttl_overridden=req.cache_ttl_overridden, priced_by_fallback=fallback,
        usage_incomplete=req.usage_incomplete, created_at=req.created_at, service_tier=usage.service_tier[:16],
    )


def charge(req: ChargeRequest):
    """Apply one request's charge in a transaction of its own; returns the new UsageLog, or None if this
    request was charged before."""
    return charge_together([req])[0]


def charge_together(reqs: list[ChargeRequest]) -> list:
    """Apply several requests' charges in ONE transaction (a group commit: one commit, one write lock);
    returns each one's UsageLog, or None for a request charged before. All or nothing.

    Rows are locked in one order whatever the batch, so two batches (two charge threads, two gateway
    processes) never wait on each other in a circle: the users with their keys and subscriptions in user
    order first (a key and a subscription belong to one user), the shared accounts afterwards, in id order.
    """
    conn = connections[DEFAULT_DB_ALIAS]  # once: every `connection.x` goes through a context-local lookup
    now = timezone.now()
    order = sorted(range(len(reqs)), key=lambda i: (reqs[i].user_id, reqs[i].api_key_id))
    entries: list = [None] * len(reqs)
    account_charges = []
    # One PostgreSQL statement is a transaction of its own; anything more runs in one.
    with transaction.atomic() if len(reqs) > 1 or _needs_transaction(reqs[0], conn) else nullcontext():
        for i in order:
            entries[i] = _charge_request(reqs[i], conn, now, account_charges)
        for account, amount, method in sorted(account_charges, key=lambda work: work[0].pk):
            # A copy: the scheduler shares its account objects between requests.
            getattr(copy.copy(account), method)(amount, now)
    return entries


def _account_charges(req: ChargeRequest, total_cost: Decimal, multiplier: Decimal) -> list[tuple]:
    """What the request adds to its account: the quota, and the 5-hour window cost of an OAuth /
    setup-token account (accounts/limits.py)."""
    from accounts import limits
    from accounts.models import Account

    account = req.account
    if not isinstance(account, Account) or total_cost <= 0:
        return []
    amount = total_cost * multiplier
    work = []
    if account.has_quota:
        work.append((account, amount, "charge_quota"))
    if limits.has_window_cost(account):
        work.append((account, amount, "charge_window_cost"))
    return work


def _needs_transaction(req: ChargeRequest, conn) -> bool:
    """Whether one charge is more than the single PostgreSQL statement `_run` sends (its account would be
    charged if the request cost anything)."""
    return conn.vendor != "postgresql" or bool(req.subscription_id) or bool(
        _account_charges(req, Decimal(1), Decimal(1))
    )


def _charge_request(req: ChargeRequest, conn, now, account_charges: list):
    """One request's log and user, key and subscription counters, in the caller's transaction; its
    account charges are appended to `account_charges` for the caller to apply."""
    from apikeys.models import ApiKey
    from users.models import Subscription

    entry = build_log(req)
    sql = _statements(conn.vendor)
    params = [f.get_db_prep_save(getattr(entry, f.attname), conn) for f in sql["log_fields"]]
    counters = {}
    delta = nanos(entry.actual_cost)
    if not req.subscription_id and delta > 0:
        counters["take_balance"] = [delta, req.user_id]
    if req.key_windows and delta > 0:
        prepare = ApiKey._meta.get_field("window_5h_start").get_db_prep_value
        counters["charge_key_windows"] = [
            delta, ApiKey.Status.ACTIVE, delta, ApiKey.Status.QUOTA_EXHAUSTED,
            *windows.charge_params(delta, now, lambda value: prepare(value, conn)), req.api_key_id,
        ]
    elif req.key_quota > 0 and delta > 0:
        counters["charge_key"] = [delta, ApiKey.Status.ACTIVE, delta, ApiKey.Status.QUOTA_EXHAUSTED, req.api_key_id]
    results = _run(conn, params, counters)
    if results is None:
        log.info("request %s was already charged", req.request_id)
        return None
    entry.pk, returned = results
    entry._state.adding = False
    _keep_auth_cache_honest(req, returned)
    if req.subscription_id and entry.total_cost > 0:
        Subscription.objects.filter(pk=req.subscription_id).update(
            **subscriptions.increment_updates(entry.total_cost, now)
        )
    account_charges += _account_charges(req, entry.total_cost, entry.account_rate_multiplier)
    return entry


def _keep_auth_cache_honest(req: ChargeRequest, returned: dict[str, tuple]) -> None:
    """Once committed: this process's cached key state shows the new balance and quota at once, and when
    this charge crossed a limit every other process drops its copy, so no request that starts after the
    crossing is admitted anywhere (the overrun is bounded by the requests already in flight)."""
    from apikeys import cache
    from apikeys.models import ApiKey

    balance_nanos = returned.get("take_balance", (None,))[0]
    key_row = returned.get("charge_key_windows") or returned.get("charge_key") or (None, None)
    status, used_nanos = key_row[:2]
    window_state = None
    if len(key_row) > 2 and key_row[2] is not None:
        window_state = windows.parse_returned(key_row[2:], _as_datetime)
    balance = None if balance_nanos is None else from_nanos(balance_nanos)
    used = None if used_nanos is None else from_nanos(used_nanos)
    user_id, key_hash = req.user_id, req.key_hash
    crossed_balance = balance is not None and balance <= 0
    crossed_quota = status == ApiKey.Status.QUOTA_EXHAUSTED

    def after_commit():
        cache.charged(key_hash, user_id, balance=balance, key_used=used, key_status=status)
        if window_state is not None:
            windows.remember(req.api_key_id, window_state)
        if crossed_balance:
            cache.invalidate_user(user_id)
        elif crossed_quota:
            cache.invalidate_key(key_hash)

    transaction.on_commit(after_commit)


def _as_datetime(value):
    """A timestamp as a cursor returned it (SQLite: text in UTC) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
