"""Usage statistics for the REST API, the admin dashboard and the CLI: plain functions, plain data.

Every function takes a `StatsFilter` (usage.query) and returns dicts and lists of ints, Decimals
(dollars) and strings; none of them knows HTTP. Build the filter with `make_filter` (typed values) or
`filter_from_params` (query-string text, as the REST API gets it); both raise `StatsError` (a
core.rules.RuleError, status 400) whose message starts with the offending parameter's name.

    make_filter(start_date=None, end_date=None, timezone=None, *, user_id=None, api_key_id=None,
                account_id=None, group_id=None, model=None, stream=None, billing_type=None,
                endpoint=None, model_source="requested", default_days=7) -> StatsFilter
    filter_from_params(params: Mapping[str, str], *, default_days=7) -> StatsFilter
    date_range(f) -> {"start_date": "YYYY-MM-DD", "end_date": "YYYY-MM-DD"}   (end inclusive)

    totals(f) -> {requests, errors, input_tokens, output_tokens, cache_read_tokens,
                  cache_creation_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
                  total_tokens, cost, actual_cost, account_cost, average_duration_ms}
    dashboard_stats(tz=None, user_id=None) -> entity counts (admin only: user_id None), totals,
                  today, rpm / tpm over the last 5 minutes
    recent_rates(minutes=5, **dimensions) -> {rpm, tpm}   (e.g. api_key_id=..., user_id=...)
    trend(f, granularity="day"|"hour") -> [{date, requests, input_tokens, output_tokens,
                  cache_creation_tokens, cache_read_tokens, total_tokens, cost, actual_cost}]
    models(f) -> [{model, requests, input_tokens, output_tokens, cache_creation_tokens,
                  cache_read_tokens, total_tokens, cost, actual_cost}]   (f.model_source; by tokens desc)
    groups(f) -> [{group_id, group_name, requests, total_tokens, cost, actual_cost}]
    user_breakdown(f, model=None, limit=50) -> [{user_id, email, requests, total_tokens, cost,
                  actual_cost}]   (model compared with the f.model_source expression; by actual_cost desc)
    users_ranking(f, limit=10) -> [{user_id, email, requests, total_tokens, cost, actual_cost}]
    api_keys_trend(f, granularity="day", limit=5) -> [{date, api_key_id, key_name, requests,
                  total_tokens, cost, actual_cost}]   (the top `limit` keys by actual cost)
    spend(by="api_key"|"user"|"account", ids, tz=None) -> {id: {"today", "7d", "total"}}  (Decimals:
                  actual_cost for keys and users, the account's cost for accounts)
    cache_efficiency(f, by="model"|"account") -> [{model or account_id (+ account_name), requests,
                  input_tokens, cache_read_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
                  hit_rate, cache_read_cost, saved}]   (hit_rate = reads / all prompt tokens;
                  saved = what the reads would have cost as uncached input minus what they cost)
    usage_stats(f) -> {total_requests, total_input_tokens, total_output_tokens, total_cache_tokens,
                  total_tokens, total_cost, total_actual_cost, average_duration_ms}
"""

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone as djtz

from core.rules import RuleError
from usage.query import MODEL_SOURCES, StatsFilter, grouped, normalize_model_source

MAX_RANGE_DAYS = 366
MAX_ID = 2**63 - 1
TREND_FIELDS = ("requests", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                "total_tokens")
MODEL_SOURCE_ERROR = "Invalid model_source, use requested/upstream/mapping"


class StatsError(RuleError):
    """A bad statistics parameter; the message names it."""


# --- filters ---------------------------------------------------------------------------------------


def _zone(name: str | None) -> str:
    name = (name or "").strip() or settings.TIME_ZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise StatsError(f"timezone: unknown time zone {name!r}")
    return name


def _date(value, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()) if len(str(value).strip()) == 10 else _bad_date(name)
    except ValueError:
        return _bad_date(name)


def _bad_date(name: str):
    raise StatsError(f"{name}: must be a date YYYY-MM-DD")


def _check_exists(name: str, value: int | None):
    if value is None:
        return
    from accounts.models import Account
    from apikeys.models import ApiKey
    from groups.models import Group
    from users.models import User

    model = {"user_id": User, "api_key_id": ApiKey, "account_id": Account, "group_id": Group}[name]
    if not model.objects.filter(pk=value).exists():
        raise StatsError(f"{name}: no {model._meta.model_name} with id {value}", 400)


def make_filter(start_date=None, end_date=None, timezone=None, *, user_id=None, api_key_id=None, account_id=None,
                group_id=None, model=None, stream=None, billing_type=None, endpoint=None,
                model_source="requested", default_days=7) -> StatsFilter:
    """A filter over whole days `start_date`..`end_date` (inclusive) in `timezone` (default TIME_ZONE).

    Missing dates: the last `default_days` days through today. Refuses an end before the start, a range
    over 366 days and ids that name nothing."""
    tz = _zone(timezone)
    zone = ZoneInfo(tz)
    today = djtz.now().astimezone(zone).date()
    start, end = _date(start_date, "start_date"), _date(end_date, "end_date")
    end = end or max(today, start or today)
    start = start or end - dt.timedelta(days=default_days - 1)
    if end < start:
        raise StatsError("end_date: must not be before start_date")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise StatsError(f"end_date: the range must not exceed {MAX_RANGE_DAYS} days")
    for name, value in (("user_id", user_id), ("api_key_id", api_key_id), ("account_id", account_id),
                        ("group_id", group_id)):
        _check_exists(name, value)
    if billing_type is not None and billing_type not in (0, 1):
        raise StatsError("billing_type: must be 0 (balance) or 1 (subscription)")
    return StatsFilter(
        start=dt.datetime.combine(start, dt.time(0), zone),
        end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), zone),
        tz=tz, user_id=user_id, api_key_id=api_key_id, account_id=account_id, group_id=group_id,
        model=model or None, stream=stream, billing_type=billing_type, endpoint=endpoint or None,
        model_source=normalize_model_source(model_source),
    )


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise StatsError(f"{name}: must be a positive integer id")
    return int(raw)


def _bool_param(params: Mapping[str, str], name: str) -> bool | None:
    raw = (params.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw not in ("true", "false", "1", "0"):
        raise StatsError(f"{name}: must be true or false")
    return raw in ("true", "1")


def _stream_param(params: Mapping[str, str]) -> bool | None:
    raw = (params.get("request_type") or "").strip().lower()
    if raw:
        if raw not in ("stream", "sync"):
            raise StatsError("request_type: must be stream or sync")
        return raw == "stream"
    return _bool_param(params, "stream")


def model_source_param(params: Mapping[str, str], *, empty_is_default: bool = True) -> str:
    """S2's parameter: absent → requested; a value must be exactly one of the three after trimming.
    `empty_is_default=False` is user-breakdown's quirk: an explicitly empty value is refused."""
    if "model_source" not in params:
        return "requested"
    raw = params.get("model_source").strip()
    if raw == "" and empty_is_default:
        return "requested"
    if raw not in MODEL_SOURCES:
        raise StatsError(MODEL_SOURCE_ERROR)
    return raw


def filter_from_params(params: Mapping[str, str], *, default_days: int = 7, model_source: str = "requested",
                       user_id: int | None = None) -> StatsFilter:
    """The filter a query string asks for (`user_id` given: forced, the caller's own logs)."""
    billing = (params.get("billing_type") or "").strip()
    if billing and billing not in ("0", "1"):
        raise StatsError("billing_type: must be 0 (balance) or 1 (subscription)")
    return make_filter(
        params.get("start_date"), params.get("end_date"), params.get("timezone"),
        user_id=user_id if user_id is not None else _int_param(params, "user_id"),
        api_key_id=_int_param(params, "api_key_id"), account_id=_int_param(params, "account_id"),
        group_id=_int_param(params, "group_id"), model=(params.get("model") or "").strip() or None,
        stream=_stream_param(params), billing_type=int(billing) if billing else None,
        model_source=model_source, default_days=default_days,
    )


def date_range(f: StatsFilter) -> dict:
    zone = f.zone
    return {
        "start_date": f.start.astimezone(zone).date().isoformat(),
        "end_date": (f.end.astimezone(zone) - dt.timedelta(days=1)).date().isoformat(),
    }


# --- numbers ---------------------------------------------------------------------------------------


def _money(value) -> Decimal:
    return Decimal(value or 0)


def _actual(row: dict, f: StatsFilter) -> Decimal:
    """S2: with only an account filtered, the account's side of the cost."""
    only_account = f.account_id is not None and not any(
        (f.user_id, f.api_key_id, f.group_id, f.model, f.stream is not None, f.billing_type is not None)
    )
    return row["account_cost"] if only_account else row["actual_cost"]


def totals(f: StatsFilter) -> dict:
    row = grouped(f)[0]
    out = {name: row[name] for name in row}
    out["cost"] = row["total_cost"]
    del out["total_cost"]
    out["average_duration_ms"] = round(row["duration_ms"] / row["requests"], 1) if row["requests"] else 0
    del out["duration_ms"]
    for name in ("input_cost", "output_cost", "cache_read_cost", "cache_creation_cost"):
        out.pop(name, None)
    return out


def usage_stats(f: StatsFilter) -> dict:
    row = grouped(f)[0]
    return {
        "total_requests": row["requests"],
        "total_input_tokens": row["input_tokens"],
        "total_output_tokens": row["output_tokens"],
        "total_cache_tokens": row["cache_read_tokens"] + row["cache_creation_tokens"],
        "total_tokens": row["total_tokens"],
        "total_cost": row["total_cost"],
        "total_actual_cost": row["actual_cost"],
        "average_duration_ms": round(row["duration_ms"] / row["requests"], 1) if row["requests"] else 0,
    }


def _today(tz: str) -> StatsFilter:
    return make_filter(default_days=1, timezone=tz)


def dashboard_stats(tz: str | None = None, user_id: int | None = None) -> dict:
    """Totals, today and the last 5 minutes' RPM/TPM; with no user, also the entity counts."""

    tz = _zone(tz)
    everything = StatsFilter(tz=tz, user_id=user_id)
    today = StatsFilter(start=_today(tz).start, tz=tz, user_id=user_id)
    total, day = totals(everything), totals(today)
    recent = recent_rates(user_id=user_id)
    out = {
        "total_requests": total["requests"], "total_tokens": total["total_tokens"],
        "total_input_tokens": total["input_tokens"], "total_output_tokens": total["output_tokens"],
        "total_cache_read_tokens": total["cache_read_tokens"],
        "total_cache_creation_tokens": total["cache_creation_tokens"],
        "total_cost": total["cost"], "total_actual_cost": total["actual_cost"],
        "today_requests": day["requests"], "today_tokens": day["total_tokens"], "today_cost": day["cost"],
        "today_actual_cost": day["actual_cost"], "today_errors": day["errors"],
        "rpm": recent["rpm"], "tpm": recent["tpm"],
        "average_duration_ms": total["average_duration_ms"],
    }
    if user_id is None:
        out.update(_entity_counts())
    return out


def recent_rates(minutes: int = 5, **dimensions) -> dict:
    """Requests and tokens per minute over the last `minutes` (raw logs), for e.g. user_id or api_key_id."""
    from billing.models import UsageLog

    recent = UsageLog.objects.filter(created_at__gte=djtz.now() - dt.timedelta(minutes=minutes))
    recent = recent.filter(**{k: v for k, v in dimensions.items() if v is not None})
    last = recent.aggregate(
        requests=Count("id"), i=Sum("input_tokens"), o=Sum("output_tokens"), r=Sum("cache_read_tokens"),
        c=Sum("cache_creation_tokens"),
    )
    tokens = sum(last[k] or 0 for k in "iorc")
    return {"rpm": round(last["requests"] / minutes, 1), "tpm": round(tokens / minutes, 1)}


def _entity_counts() -> dict:
    from accounts.models import Account
    from apikeys.models import ApiKey
    from users.models import User

    accounts = dict(Account.objects.values_list("status").annotate(n=Count("id")).order_by())
    keys = dict(ApiKey.objects.values_list("status").annotate(n=Count("id")).order_by())
    users = dict(User.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "total_users": sum(users.values()), "active_users": users.get(User.Status.ACTIVE, 0),
        "total_api_keys": sum(keys.values()), "active_api_keys": keys.get(ApiKey.Status.ACTIVE, 0),
        "total_accounts": sum(accounts.values()),
        "accounts_by_status": {str(status): n for status, n in sorted(accounts.items())},
        "normal_accounts": accounts.get(Account.Status.ACTIVE, 0),
        "error_accounts": accounts.get("error", 0),
    }


def _bucket_label(moment: dt.datetime, granularity: str) -> str:
    return moment.strftime("%Y-%m-%d") if granularity == "day" else moment.strftime("%Y-%m-%d %H:00")


def _check_granularity(granularity: str) -> str:
    if granularity not in ("day", "hour"):
        raise StatsError("granularity: must be day or hour")
    return granularity


def trend(f: StatsFilter, granularity: str = "day") -> list[dict]:
    key = _check_granularity(granularity)
    rows = sorted(grouped(f, [key]), key=lambda r: r[key])
    return [
        {"date": _bucket_label(r[key], key), **{n: r[n] for n in TREND_FIELDS}, "cost": r["total_cost"],
         "actual_cost": _actual(r, f)}
        for r in rows if r[key] is not None
    ]


def models(f: StatsFilter) -> list[dict]:
    rows = grouped(f, ["model_dim"])
    rows.sort(key=lambda r: (-r["total_tokens"], r["model_dim"]))
    return [
        {"model": r["model_dim"], **{n: r[n] for n in TREND_FIELDS}, "cost": r["total_cost"],
         "actual_cost": _actual(r, f)}
        for r in rows
    ]


def groups(f: StatsFilter) -> list[dict]:
    from groups.models import Group

    rows = grouped(f, ["group_id"])
    names = dict(Group.objects.filter(pk__in=[r["group_id"] for r in rows]).values_list("id", "name"))
    rows.sort(key=lambda r: (-r["actual_cost"], r["group_id"] or 0))
    return [
        {"group_id": r["group_id"], "group_name": names.get(r["group_id"], ""), "requests": r["requests"],
         "total_tokens": r["total_tokens"], "cost": r["total_cost"], "actual_cost": r["actual_cost"]}
        for r in rows
    ]


def _users(rows: list[dict], limit: int) -> list[dict]:
    from users.models import User

    rows.sort(key=lambda r: (-r["actual_cost"], r["user_id"]))
    rows = rows[:limit]
    emails = dict(User.objects.filter(pk__in=[r["user_id"] for r in rows]).values_list("id", "email"))
    return [
        {"user_id": r["user_id"], "email": emails.get(r["user_id"], ""), "requests": r["requests"],
         "total_tokens": r["total_tokens"], "cost": r["total_cost"], "actual_cost": r["actual_cost"]}
        for r in rows
    ]


def user_breakdown(f: StatsFilter, model: str | None = None, limit: int = 50) -> list[dict]:
    return _users(grouped(f, ["user_id"], model_dim=model or None), limit)


def users_ranking(f: StatsFilter, limit: int = 10) -> list[dict]:
    return _users(grouped(f, ["user_id"]), limit)


def api_keys_trend(f: StatsFilter, granularity: str = "day", limit: int = 5) -> list[dict]:
    from apikeys.models import ApiKey

    key = _check_granularity(granularity)
    ranked = sorted(grouped(f, ["api_key_id"]), key=lambda r: (-r["actual_cost"], r["api_key_id"] or 0))
    top = [r["api_key_id"] for r in ranked if r["api_key_id"] is not None][:limit]
    names = dict(ApiKey.objects.filter(pk__in=top).values_list("id", "name"))
    rows = [r for r in grouped(f, [key, "api_key_id"], among=("api_key_id", top)) if r[key] is not None]
    rows.sort(key=lambda r: (r[key], top.index(r["api_key_id"])))
    return [
        {"date": _bucket_label(r[key], key), "api_key_id": r["api_key_id"], "key_name": names.get(r["api_key_id"], ""),
         "requests": r["requests"], "total_tokens": r["total_tokens"], "cost": r["total_cost"],
         "actual_cost": r["actual_cost"]}
        for r in rows
    ]


SPEND_COLUMNS = {"api_key": ("api_key_id", "actual_cost"), "user": ("user_id", "actual_cost"),
                 "account": ("account_id", "account_cost")}


def spend(by: str, ids, tz: str | None = None) -> dict[int, dict[str, Decimal]]:
    """Spend today, over the last 7 days (today included) and in total, per id (for list columns)."""
    if by not in SPEND_COLUMNS:
        raise StatsError("by: must be api_key, user or account")
    column, measure = SPEND_COLUMNS[by]
    ids = [int(i) for i in ids]
    out = {i: {"today": Decimal(0), "7d": Decimal(0), "total": Decimal(0)} for i in ids}
    if not ids:
        return out
    tz = _zone(tz)
    periods = {"today": make_filter(timezone=tz, default_days=1).start,
               "7d": make_filter(timezone=tz, default_days=7).start, "total": None}
    for period, start in periods.items():
        for row in grouped(StatsFilter(start=start, tz=tz), [column]):
            if row[column] in out:
                out[row[column]][period] = row[measure]
    return out


def _cache_row(r: dict) -> dict:
    from billing.prices import lookup

    prompt = r["input_tokens"] + r["cache_read_tokens"] + r["cache_creation_tokens"]
    return {
        "requests": r["requests"], "input_tokens": r["input_tokens"], "cache_read_tokens": r["cache_read_tokens"],
        "cache_creation_5m_tokens": r["cache_creation_5m_tokens"],
        "cache_creation_1h_tokens": r["cache_creation_1h_tokens"],
        "hit_rate": round(r["cache_read_tokens"] / prompt, 4) if prompt else 0.0,
        "cache_read_cost": r["cache_read_cost"],
        "saved": _saved(r, lookup(r["model"])[0]) if "model" in r else Decimal(0),
    }


def _saved(r: dict, price) -> Decimal:
    uncached = (Decimal(r["cache_read_tokens"]) * price.input / 1_000_000).quantize(Decimal("0.000000001"))
    return uncached - r["cache_read_cost"]


def cache_efficiency(f: StatsFilter, by: str = "model") -> list[dict]:
    """Prompt-cache use per model or per account; `saved` uses each model's uncached input price."""
    if by == "model":
        rows = [{"model": r["model"], **_cache_row(r)} for r in grouped(f, ["model"])]
    elif by == "account":
        from accounts.models import Account

        per_account: dict = {}
        for r in grouped(f, ["account_id", "model"]):
            cell = _cache_row(r)
            total = per_account.setdefault(r["account_id"], {
                "account_id": r["account_id"], "requests": 0, "input_tokens": 0, "cache_read_tokens": 0,
                "cache_creation_5m_tokens": 0, "cache_creation_1h_tokens": 0, "cache_creation_tokens": 0,
                "cache_read_cost": Decimal(0), "saved": Decimal(0),
            })
            total["cache_creation_tokens"] += r["cache_creation_tokens"]
            for name in ("requests", "input_tokens", "cache_read_tokens", "cache_creation_5m_tokens",
                         "cache_creation_1h_tokens", "cache_read_cost", "saved"):
                total[name] += cell[name]
        names = dict(Account.objects.filter(pk__in=list(per_account)).values_list("id", "name"))
        rows = []
        for total in per_account.values():
            prompt = total["input_tokens"] + total["cache_read_tokens"] + total.pop("cache_creation_tokens")
            total["hit_rate"] = round(total["cache_read_tokens"] / prompt, 4) if prompt else 0.0
            total["account_name"] = names.get(total["account_id"], "")
            rows.append(total)
    else:
        raise StatsError("by: must be model or account")
    rows.sort(key=lambda r: (-r["cache_read_tokens"], str(r.get("model", r.get("account_id")))))
    return rows


__all__ = [
    "MODEL_SOURCE_ERROR", "StatsError", "StatsFilter", "api_keys_trend", "cache_efficiency", "dashboard_stats",
    "date_range", "filter_from_params", "groups", "make_filter", "model_source_param", "models", "recent_rates",
    "spend",
    "totals", "trend", "usage_stats", "user_breakdown", "users_ranking",
]
