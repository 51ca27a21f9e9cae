"""Usage statistics over REST: the admin dashboard and usage endpoints, and a user's own usage.

The numbers come from usage.stats; these views read the query string into a filter (a 400 naming the
parameter when it is bad), cache admin answers for USAGE_STATS_CACHE_TTL seconds keyed by every filter
(`X-Snapshot-Cache: hit|miss`) and wrap them in the envelope. A user sees only their own logs, never the
upstream model or the account.
"""

import dataclasses
import hashlib

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import OpenApiParameter

from apikeys.models import ApiKey
from billing.models import UsageLog
from core.payload import get_or_404
from core.rest import ApiError, documented, ok, page
from core.rules import RuleError
from usage import rollup, stats
from usage import serializers as out
from users.authentication import AdminView, UserView

P = OpenApiParameter
DATES = [
    P("start_date", str, description="first day, YYYY-MM-DD (default: 6 days before end_date)"),
    P("end_date", str, description="last day, inclusive, YYYY-MM-DD (default: today); at most 366 days"),
    P("timezone", str, description=f"IANA zone the days are counted in (default {settings.TIME_ZONE})"),
]
OWN_FILTERS = [
    P("api_key_id", int, description="one API key"),
    P("model", str, description="requested model, exactly"),
    P("request_type", str, enum=["stream", "sync"]),
    P("stream", str, enum=["true", "false"], description="legacy form of request_type"),
    P("billing_type", int, enum=[0, 1], description="0 balance, 1 subscription"),
]
FILTERS = [
    *DATES,
    P("user_id", int), P("account_id", int), P("group_id", int),
    *OWN_FILTERS,
]
GRANULARITY = P("granularity", str, enum=["day", "hour"], description="default day")
MODEL_SOURCE = P("model_source", str, enum=["requested", "upstream", "mapping"],
                 description="group by the requested model (default), the upstream one or the pair 'a -> b'")
LIMIT = P("limit", int, description="rows (default 50, 1-200; other values use the default)")


def _granularity(params) -> str:
    value = (params.get("granularity") or "day").strip()
    if value not in ("day", "hour"):
        raise ApiError(400, "granularity: must be day or hour")
    return value


def _limit(params, default: int, high: int) -> int:
    raw = (params.get("limit") or "").strip()
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= high else default


def _answer(request, name: str, compute, *parts):
    """The data of `compute()`, from the cache when the same question was asked recently."""
    ttl = settings.USAGE_STATS_CACHE_TTL
    key = "usage-stats:" + hashlib.sha256(repr((name, *parts)).encode()).hexdigest()
    data = cache.get(key) if ttl > 0 else None
    state = "hit" if data is not None else "miss"
    if data is None:
        data = compute()
        if ttl > 0:
            cache.set(key, data, ttl)
    response = ok(data)
    response["X-Snapshot-Cache"] = state
    return response


def _filter_of(params, **kwargs) -> stats.StatsFilter:
    try:
        return stats.filter_from_params(params, **kwargs)
    except RuleError as exc:
        raise ApiError(exc.status, exc.message, exc.reason)


def _filter(request, **kwargs) -> stats.StatsFilter:
    return _filter_of(request.query_params, **kwargs)


def _source(request, *, empty_is_default=True) -> str:
    try:
        return stats.model_source_param(request.query_params, empty_is_default=empty_is_default)
    except RuleError as exc:
        raise ApiError(400, exc.message)


# --- admin -----------------------------------------------------------------------------------------


class DashboardStatsView(AdminView):
    @documented(response=out.AdminDashboardOut, parameters=[DATES[2]])
    def get(self, request):
        tz = request.query_params.get("timezone")
        return _answer(request, "stats", lambda: _checked(stats.dashboard_stats, tz), tz)


def _checked(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except RuleError as exc:
        raise ApiError(exc.status, exc.message, exc.reason)


class DashboardTrendView(AdminView):
    @documented(response=out.TrendOut, parameters=[*FILTERS, GRANULARITY])
    def get(self, request):
        f, granularity = _filter(request), _granularity(request.query_params)
        return _answer(request, "trend", lambda: out.TrendOut({
            **stats.date_range(f), "granularity": granularity, "trend": stats.trend(f, granularity)}).data,
            f.cache_key(), granularity)


class DashboardModelsView(AdminView):
    @documented(response=out.ModelsOut, parameters=[*FILTERS, MODEL_SOURCE])
    def get(self, request):
        f = _filter(request, model_source=_source(request))
        return _answer(request, "models", lambda: out.ModelsOut({
            **stats.date_range(f), "models": stats.models(f)}).data, f.cache_key())


class DashboardGroupsView(AdminView):
    @documented(response=out.GroupsOut, parameters=FILTERS)
    def get(self, request):
        f = _filter(request)
        return _answer(request, "groups", lambda: out.GroupsOut({
            **stats.date_range(f), "groups": stats.groups(f)}).data, f.cache_key())


class DashboardUserBreakdownView(AdminView):
    @documented(response=out.UsersOut, parameters=[
        *DATES, P("group_id", int), P("model", str, description="compared with the model_source expression"),
        MODEL_SOURCE, P("endpoint", str, description="the inbound path, e.g. /v1/messages"),
        P("endpoint_type", str, enum=["inbound", "path"], description="default inbound (the same column)"),
        LIMIT,
    ])
    def get(self, request):
        params = request.query_params
        source = _source(request, empty_is_default=False)
        kind = (params.get("endpoint_type") or "inbound").strip()
        if kind not in ("inbound", "path"):
            raise ApiError(400, "endpoint_type: must be inbound or path")
        narrowed = {k: params[k] for k in ("start_date", "end_date", "timezone", "group_id") if k in params}
        f = _filter_of(narrowed, model_source=source)
        if endpoint := (params.get("endpoint") or "").strip():
            f = dataclasses.replace(f, endpoint=endpoint)
        model = (params.get("model") or "").strip() or None
        limit = _limit(params, 50, 200)
        return _answer(request, "user-breakdown", lambda: out.UsersOut({
            **stats.date_range(f), "users": stats.user_breakdown(f, model=model, limit=limit)}).data,
            f.cache_key(), model, limit)


class DashboardUsersRankingView(AdminView):
    @documented(response=out.RankingOut, parameters=[*FILTERS, P("limit", int, description="default 10, 1-100")])
    def get(self, request):
        f, limit = _filter(request), _limit(request.query_params, 10, 100)
        return _answer(request, "users-ranking", lambda: out.RankingOut({
            **stats.date_range(f), "ranking": stats.users_ranking(f, limit)}).data, f.cache_key(), limit)


class DashboardApiKeysTrendView(AdminView):
    @documented(response=out.KeysTrendOut, parameters=[
        *FILTERS, GRANULARITY, P("limit", int, description="top keys by cost (default 5, 1-50)")])
    def get(self, request):
        f, granularity = _filter(request), _granularity(request.query_params)
        limit = _limit(request.query_params, 5, 50)
        return _answer(request, "api-keys-trend", lambda: out.KeysTrendOut({
            **stats.date_range(f), "granularity": granularity,
            "trend": stats.api_keys_trend(f, granularity, limit)}).data, f.cache_key(), granularity, limit)


class AggregationBackfillView(AdminView):
    @documented(request=out.BackfillBody, response=out.BackfillOut)
    def post(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        value = body.get("start_date")
        if not isinstance(value, str):
            raise ApiError(400, "start_date: required, YYYY-MM-DD or an ISO 8601 datetime")
        since = _checked(rollup.parse_since, value, "start_date")
        return ok(out.BackfillOut(rollup.backfill(since)).data)


def _logs(f: stats.StatsFilter):
    logs = UsageLog.objects.filter(f.dimension_filters(), created_at__gte=f.start, created_at__lt=f.end)
    return logs.order_by("-created_at", "-id")


class AdminUsageListView(AdminView):
    @documented(response=out.AdminUsageOut, paged=True, parameters=FILTERS)
    def get(self, request):
        return page(request, _logs(_filter(request, default_days=30)).select_related("user"), out.AdminUsageOut)


class AdminUsageStatsView(AdminView):
    @documented(response=out.UsageStatsOut, parameters=FILTERS)
    def get(self, request):
        f = _filter(request, default_days=30)
        return _answer(request, "usage-stats", lambda: out.UsageStatsOut(stats.usage_stats(f)).data, f.cache_key())


# --- the user's own --------------------------------------------------------------------------------

OWN_KEYS = ("start_date", "end_date", "timezone", "api_key_id", "model", "request_type", "stream", "billing_type")


def _own_filter(request, **kwargs) -> stats.StatsFilter:
    params = {k: request.query_params[k] for k in OWN_KEYS if k in request.query_params}
    f = _filter_of(params, user_id=request.user.pk, **kwargs)
    if f.api_key_id is not None and not ApiKey.objects.filter(pk=f.api_key_id, user=request.user).exists():
        raise ApiError(400, f"api_key_id: no apikey with id {f.api_key_id}")
    return f


class UsageListView(UserView):
    @documented(response=out.UserUsageOut, paged=True, parameters=[*DATES, *OWN_FILTERS])
    def get(self, request):
        return page(request, _logs(_own_filter(request, default_days=30)), out.UserUsageOut)


class UsageDetailView(UserView):
    @documented(response=out.UserUsageOut)
    def get(self, request, pk):
        return ok(out.UserUsageOut(get_or_404(UsageLog.objects.filter(user=request.user), pk, "Usage log")).data)


class UsageStatsView(UserView):
    @documented(response=out.UsageStatsOut, parameters=[*DATES, *OWN_FILTERS])
    def get(self, request):
        return ok(out.UsageStatsOut(stats.usage_stats(_own_filter(request, default_days=30))).data)


class UserDashboardStatsView(UserView):
    @documented(response=out.UserDashboardOut, parameters=[DATES[2]])
    def get(self, request):
        data = _checked(stats.dashboard_stats, request.query_params.get("timezone"), user_id=request.user.pk)
        return ok(out.UserDashboardOut(data).data)


class UserDashboardTrendView(UserView):
    @documented(response=out.TrendOut, parameters=[*DATES, *OWN_FILTERS, GRANULARITY])
    def get(self, request):
        f, granularity = _own_filter(request), _granularity(request.query_params)
        return ok(out.TrendOut({**stats.date_range(f), "granularity": granularity,
                                "trend": stats.trend(f, granularity)}).data)


class UserDashboardModelsView(UserView):
    """By the requested model only: which upstream model served a user is the operator's business."""

    @documented(response=out.ModelsOut, parameters=[*DATES, *OWN_FILTERS])
    def get(self, request):
        f = _own_filter(request)
        return ok(out.ModelsOut({**stats.date_range(f), "models": stats.models(f)}).data)
