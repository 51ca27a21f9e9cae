"""Gateway views: thin async functions (no DRF, no middleware, see config/asgi.py)."""

import functools
import json
import logging
import time
import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import connection
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from apikeys import windows
from core import db
from gateway import dialects, pipeline
from gateway.auth import authenticate
from gateway.errors import GatewayError, bad_request, hint_relayed

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


def gateway_view(dialect, *methods):
    """A gateway view in `dialect`: method check, GatewayError → its response, anything unexpected → a
    logged 500 in the same shape (never Django's HTML error page). Every answer carries the request's id
    (`x-subrelay-request-id`, also `request-id` unless the upstream gave its own) and every refusal a
    retry hint."""

    def wrap(view):
        @functools.wraps(view)
        async def inner(request, **kwargs):
            request.subrelay_id = uuid.uuid4().hex
            response = await _answer(view, dialect, methods, request, kwargs)
            response["x-subrelay-request-id"] = request.subrelay_id
            if "request-id" not in response:
                response["request-id"] = f"req_{request.subrelay_id}"
            if response.status_code >= 400 and "x-should-retry" not in response:
                hint_relayed(response)
            return response

        return inner

    return wrap


async def _answer(view, dialect, methods, request, kwargs):
    if request.method not in methods:
        return GatewayError(405, f"Method {request.method} not allowed", error_type="invalid_request_error").response(
            dialect)
    try:
        return await view(request, **kwargs)
    except GatewayError as exc:
        return exc.response(dialect)
    except RequestDataTooBig:
        return GatewayError(413, "Request body too large", error_type="request_too_large").response(dialect)
    except SuspiciousOperation as exc:  # e.g. more query fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
        return bad_request(f"Bad request: {exc}").response(dialect)
    except Exception:
        log.exception("gateway request %s %s failed", request.method, request.path)
        return GatewayError(500, "Internal error", code="INTERNAL_ERROR", error_type="api_error").response(dialect)


@gateway_view(dialects.ANTHROPIC, "POST")
async def messages(request):
    return await pipeline.serve(request, dialects.ANTHROPIC, "messages")


@gateway_view(dialects.ANTHROPIC, "POST")
async def count_tokens(request):
    return await pipeline.serve(request, dialects.ANTHROPIC, "count_tokens", billed=False)


@gateway_view(dialects.OPENAI_CHAT, "POST")
async def chat_completions(request):
    return await pipeline.serve(request, dialects.OPENAI_CHAT, "chat")


@gateway_view(dialects.OPENAI_RESPONSES, "POST")
async def responses(request, subpath=""):
    return await pipeline.serve(request, dialects.OPENAI_RESPONSES, "responses", subpath=subpath)


# --- /v1/models ------------------------------------------------------------------------------------
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


async def _group_models(ctx, platform: str) -> list[str]:
    """The models the key's group maps (empty: its platform's defaults), cached briefly per group."""
    cache_key = (ctx.key.group_id, platform)
    cached = _models_cache.get(cache_key)
    if cached is None or cached[0] < time.monotonic():
        names = await db.run(_mapped_models, *cache_key)
        cached = _models_cache[cache_key] = (time.monotonic() + MODELS_CACHE_SECONDS, names)
    return cached[1]


@gateway_view(dialects.ANTHROPIC, "GET")
async def models(request):
    """GET /v1/models: the group's mapped models (else its platform's defaults), in its platform's shape."""
    ctx = await authenticate(request, skip_billing=True)
    names = await _group_models(ctx, ctx.key.group_platform or "anthropic")
    return dialects.for_platform(ctx.key.group_platform).models(names)


@gateway_view(dialects.ANTHROPIC, "GET")
async def model(request, model):
    """GET /v1/models/{model}: one model of that list, in its platform's shape."""
    ctx = await authenticate(request, skip_billing=True)
    names = await _group_models(ctx, ctx.key.group_platform or "anthropic")
    return dialects.for_platform(ctx.key.group_platform).model(model, names)


# --- Gemini (/v1beta and Google's /v1) -------------------------------------------------------------


@gateway_view(dialects.GEMINI, "POST")
async def gemini_action(request, model, action):
    """POST /v1beta/models/{model}:{action} (and /v1/...): generateContent, streamGenerateContent,
    countTokens (forwarded, never billed)."""
    if action not in dialects.GEMINI.actions:
        return dialects.not_found(request.path)
    return await pipeline.serve(request, dialects.GEMINI, action, billed=action != "countTokens", model=model)


@gateway_view(dialects.GEMINI, "GET")
async def gemini_models(request):
    """GET /v1beta/models: the group's models, else the Gemini defaults."""
    ctx = await pipeline.authenticate_for(request, dialects.GEMINI, skip_billing=True)
    return dialects.GEMINI.models(await _group_models(ctx, "gemini"))


@gateway_view(dialects.GEMINI, "GET")
async def gemini_model(request, model):
    ctx = await pipeline.authenticate_for(request, dialects.GEMINI, skip_billing=True)
    return dialects.GEMINI.model(model, await _group_models(ctx, "gemini"))


# --- /v1/usage -------------------------------------------------------------------------------------


def _usage_report(key_id: int, params) -> dict:
    from apikeys.models import ApiKey
    from core.rules import RuleError
    from usage import stats

    key = ApiKey.objects.select_related("user", "group").get(pk=key_id)
    try:  # model_stats: the last 30 days unless start_date / end_date say otherwise
        period = stats.make_filter(params.get("start_date"), params.get("end_date"), params.get("timezone"),
                                   api_key_id=key_id, default_days=30)
    except RuleError as exc:
        raise bad_request(exc.message)

    def amounts(row: dict) -> dict:
        out = {name: row[name] for name in ("requests", "input_tokens", "output_tokens", "cache_read_tokens",
                                            "cache_creation_tokens", "total_tokens")}
        return {**out, "cost": float(row["cost"]), "actual_cost": float(row["actual_cost"])}

    today = stats.make_filter(default_days=1, api_key_id=key_id, timezone=period.tz)
    recent = stats.recent_rates(api_key_id=key_id)
    limited = key.quota > 0 or key.rate_limit_5h > 0 or key.rate_limit_1d > 0 or key.rate_limit_7d > 0
    report = {
        "mode": "quota_limited" if limited else "unrestricted",
        "isValid": key.status == ApiKey.Status.ACTIVE and not key.is_expired() and not key.is_quota_exhausted(),
        "status": key.status,
        "planName": key.group.name if key.group else None,
        "unit": "USD",
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "usage": {
            "today": amounts(stats.totals(today)),
            "total": amounts(stats.totals(stats.StatsFilter(api_key_id=key_id))),
        },
        "rpm": recent["rpm"], "tpm": recent["tpm"],
        "model_stats": [{"model": row["model"], **amounts(row)} for row in stats.models(period)],
        **stats.date_range(period),
    }
    now = timezone.now()
    report["rate_limits"] = [_window_report(w, now) for w in windows.of(key) if w.limited]
    if key.quota > 0:
        report["quota"] = {"limit": float(key.quota), "used": float(key.quota_used),
                           "remaining": float(max(key.quota - key.quota_used, 0))}
        report["remaining"] = report["quota"]["remaining"]
    else:
        report["remaining"] = float(key.user.balance)
        report["balance"] = float(key.user.balance)
    return report


def _window_report(window, now) -> dict:
    """One spend window in /v1/usage (numbers as the rest of the report gives them)."""
    shown = window.report(now)
    return {
        "window": window.name, "limit": float(shown["limit"]), "used": float(shown["used"]),
        "remaining": float(shown["remaining"]),
        "window_start": shown["window_start"].isoformat() if shown["window_start"] else None,
        "resets_at": shown["resets_at"].isoformat() if shown["resets_at"] else None,
    }


@gateway_view(dialects.ANTHROPIC, "GET")
async def usage(request):
    ctx = await authenticate(request, skip_billing=True)
    report = await db.run(_usage_report, ctx.key.key_id, request.GET)
    return JsonResponse(report, json_dumps_params={"ensure_ascii": False})


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
