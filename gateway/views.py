"""Gateway views: thin async functions (no DRF, no middleware, see config/asgi.py)."""

import functools
import json
import logging
import time
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from core import db
from gateway import relay
from gateway.auth import authenticate
from gateway.errors import GatewayError, error_response

log = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


async def _redis_ok() -> bool:
    from core.redis import get_redis

    try:
        return bool(await get_redis().ping())
    except Exception:
        return False


async def healthz(request):
    """For load balancers and operators: 200 when every backing service answers, else 503."""
    checks = {"database": "ok" if await db.run(_database_ok) else "down"}
    if settings.REDIS_URL:
        checks["redis"] = "ok" if await _redis_ok() else "down"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


def gateway_view(*methods):
    """An Anthropic-protocol view: method check, GatewayError → its response, anything unexpected → a
    logged 500 in the same shape (never Django's HTML error page)."""

    def wrap(view):
        @functools.wraps(view)
        async def inner(request):
            if request.method not in methods:
                return error_response(405, f"Method {request.method} not allowed", error_type="invalid_request_error")
            try:
                return await view(request)
            except GatewayError as exc:
                return exc.response()
            except Exception:
                log.exception("gateway request %s %s failed", request.method, request.path)
                return error_response(500, "Internal error", code="INTERNAL_ERROR", error_type="api_error")

        return inner

    return wrap


def _require_anthropic_group(ctx, path: str):
    platform = ctx.key.group_platform
    if platform not in (None, "anthropic"):
        raise GatewayError(404, f"{path} is not available for {platform} groups", error_type="not_found_error")


@gateway_view("POST")
async def messages(request):
    ctx = await authenticate(request)
    _require_anthropic_group(ctx, "/v1/messages")
    inbound = relay.read_inbound(request, "/v1/messages")
    return await relay.relay_messages(request, ctx, inbound)


@gateway_view("POST")
async def count_tokens(request):
    ctx = await authenticate(request)
    _require_anthropic_group(ctx, "/v1/messages/count_tokens")
    inbound = relay.read_inbound(request, "/v1/messages/count_tokens")
    return await relay.relay_count_tokens(request, ctx, inbound)


# --- /v1/models ------------------------------------------------------------------------------------
DEFAULT_MODELS = (
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-01T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-14T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-19T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
)
MODELS_CACHE_SECONDS = 15.0
_models_cache: dict[tuple, tuple[float, list]] = {}


def _mapped_models(group_id, platform: str) -> list[str]:
    from accounts.models import Account

    accounts = Account.objects.filter(platform=platform)
    accounts = accounts.filter(groups__id=group_id) if group_id else accounts.filter(groups__isnull=True)
    names: dict[str, None] = {}
    for account in accounts:
        if account.is_schedulable():
            names.update(dict.fromkeys(account.model_mapping or {}))
    return list(names)


@gateway_view("GET")
async def models(request):
    ctx = await authenticate(request, skip_billing=True)
    cache_key = (ctx.key.group_id, ctx.key.group_platform or "anthropic")
    cached = _models_cache.get(cache_key)
    if cached is None or cached[0] < time.monotonic():
        names = await db.run(_mapped_models, *cache_key)
        cached = _models_cache[cache_key] = (time.monotonic() + MODELS_CACHE_SECONDS, names)
    names = cached[1]
    if names:
        data = [{"type": "model", "id": n, "display_name": n, "created_at": "2024-01-01T00:00:00Z"} for n in names]
    else:
        data = [{"type": "model", "id": i, "display_name": d, "created_at": c} for i, d, c in DEFAULT_MODELS]
    return JsonResponse({
        "data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    })


# --- /v1/usage -------------------------------------------------------------------------------------


def _usage_report(key_id: int) -> dict:
    from django.db.models import Count, Sum

    from apikeys.models import ApiKey
    from billing.models import UsageLog

    key = ApiKey.objects.select_related("user", "group").get(pk=key_id)
    logs = UsageLog.objects.filter(api_key_id=key_id)
    sums = {
        "requests": Count("id"), "input_tokens": Sum("input_tokens"), "output_tokens": Sum("output_tokens"),
        "cache_read_tokens": Sum("cache_read_tokens"), "cache_creation_tokens": Sum("cache_creation_tokens"),
        "cost": Sum("total_cost"), "actual_cost": Sum("actual_cost"),
    }
    start_of_day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)

    def aggregate(qs):
        row = qs.aggregate(**sums)
        out = {name: int(row[name] or 0) for name in sums if name not in ("cost", "actual_cost")}
        out["total_tokens"] = sum(out[n] for n in ("input_tokens", "output_tokens", "cache_read_tokens",
                                                     "cache_creation_tokens"))
        # Sum() over a MoneyField is nano-dollars.
        for name in ("cost", "actual_cost"):
            out[name] = float(Decimal(row[name] or 0) / 10**9)
        return out

    limited = key.quota > 0 or key.rate_limit_5h > 0 or key.rate_limit_1d > 0 or key.rate_limit_7d > 0
    report = {
        "mode": "quota_limited" if limited else "unrestricted",
        "isValid": key.status == ApiKey.Status.ACTIVE and not key.is_expired() and not key.is_quota_exhausted(),
        "status": key.status,
        "planName": key.group.name if key.group else None,
        "unit": "USD",
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "usage": {"today": aggregate(logs.filter(created_at__gte=start_of_day)), "total": aggregate(logs)},
    }
    if key.quota > 0:
        report["quota"] = {"limit": float(key.quota), "used": float(key.quota_used),
                           "remaining": float(max(key.quota - key.quota_used, 0))}
        report["remaining"] = report["quota"]["remaining"]
    else:
        report["remaining"] = float(key.user.balance)
        report["balance"] = float(key.user.balance)
    return report


@gateway_view("GET")
async def usage(request):
    ctx = await authenticate(request, skip_billing=True)
    return JsonResponse(await db.run(_usage_report, ctx.key.key_id), json_dumps_params={"ensure_ascii": False})


# --- probes ----------------------------------------------------------------------------------------


async def root(request):
    """Claude Code probes `HEAD /`; a browser asking for `/` goes to the admin."""
    if request.method == "HEAD":
        return HttpResponse(status=200)
    return HttpResponseRedirect("/admin/")


async def hello(request):
    if request.method in ("HEAD", "GET"):
        return HttpResponse(status=200)
    return HttpResponseNotAllowed(["HEAD", "GET"])


@csrf_exempt  # outside the gateway prefixes, so it passes the site middleware
async def event_logging(request):
    """Claude Code telemetry: accepted and dropped."""
    return HttpResponse(json.dumps({}), status=200, content_type="application/json")
