"""API-key authentication for the gateway routes (spec §2.2, S7), with the reference's codes.

Order: key present → known → status usable → IP rules → user active → (not for /v1/usage) key
exhausted/expired by status, expiry time, quota, spend windows (apikeys.windows) → subscription or
balance → group assigned.
"""

import asyncio
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from apikeys import cache, windows
from apikeys.models import ApiKey, hash_key
from core import db
from core.clientip import request_ip
from gateway.errors import GatewayError, window_exceeded

ACTIVE, QUOTA_EXHAUSTED, EXPIRED = ApiKey.Status.ACTIVE, ApiKey.Status.QUOTA_EXHAUSTED, ApiKey.Status.EXPIRED
TOUCH_INTERVAL = 30.0


@dataclass
class AuthContext:
    key: cache.KeySnapshot
    client_ip: str
    subscription: object | None = None  # users.models.Subscription when billed by subscription


def extract_key(request, accepts_query_key: bool = False) -> str:
    if accepts_query_key and (key := request.GET.get("key", "").strip()):
        return key
    if "key" in request.GET or "api_key" in request.GET:
        raise GatewayError(
            400, "API key in query parameter is deprecated, use the x-api-key or Authorization header",
            code="api_key_in_query_deprecated",
        )
    meta = request.META
    auth = meta.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return (meta.get("HTTP_X_API_KEY", "") or meta.get("HTTP_X_GOOG_API_KEY", "")).strip()


def ip_allowed(snapshot: cache.KeySnapshot, ip: str) -> bool:
    # The rule lives on the model; the snapshot carries the same two lists.
    return ApiKey.ip_allowed(snapshot, ip)


def _load_subscription(user_id: int, group_id: int):
    from users.models import Subscription

    return Subscription.objects.filter(user_id=user_id, group_id=group_id).select_related("group").first()


async def authenticate(request, *, skip_billing: bool = False, dialect=None) -> AuthContext:
    """The caller's key snapshot, or GatewayError with the reference's status and code."""
    raw = extract_key(request, accepts_query_key=dialect is not None and dialect.accepts_query_key)
    if not raw:
        raise GatewayError(401, "API key is required", code="API_KEY_REQUIRED")
    snapshot = await cache.lookup(hash_key(raw))
    if snapshot is None:
        raise GatewayError(401, "Invalid API key", code="INVALID_API_KEY")
    if snapshot.status not in (ACTIVE, QUOTA_EXHAUSTED, EXPIRED):
        raise GatewayError(401, "API key is disabled", code="API_KEY_DISABLED")
    ip = request_ip(request)  # forwarding headers count only from TRUSTED_PROXIES
    if not ip_allowed(snapshot, ip):
        raise GatewayError(403, "Access denied", code="ACCESS_DENIED")
    if snapshot.user_status != "active":
        raise GatewayError(401, "User is not active", code="USER_INACTIVE")
    ctx = AuthContext(key=snapshot, client_ip=ip)
    if not skip_billing:
        await _check_billing(ctx)
        if snapshot.group_id is None and not settings.ALLOW_UNGROUPED_KEYS:
            raise GatewayError(
                403, "API Key is not assigned to any group, and ungrouped keys are not allowed",
                code="GROUP_NOT_ASSIGNED", error_type="permission_error",
            )
    _touch(snapshot.key_id)
    return ctx


async def _check_billing(ctx: AuthContext):
    from billing import subscriptions

    key = ctx.key
    now = timezone.now()
    if key.status == QUOTA_EXHAUSTED:
        raise GatewayError(429, "API key 额度已用完", code="API_KEY_QUOTA_EXHAUSTED")
    if key.status == EXPIRED or ApiKey.is_expired(key, now):
        raise GatewayError(403, "API key has expired", code="API_KEY_EXPIRED")
    if ApiKey.is_quota_exhausted(key):
        raise GatewayError(429, "API key 额度已用完", code="API_KEY_QUOTA_EXHAUSTED")
    if windows.has_limits(key):
        window = windows.first_exceeded(await windows.current(key), now)
        if window is not None:
            raise window_exceeded(window, now)
    if key.group_is_subscription:
        subscription = await db.run(_load_subscription, key.user_id, key.group_id)
        if subscription is None:
            raise GatewayError(403, "No active subscription for this group", code="SUBSCRIPTION_NOT_FOUND")
        if subscription.status == subscription.Status.SUSPENDED:
            raise GatewayError(403, "subscription has been suspended", code="SUBSCRIPTION_INVALID")
        if not subscription.is_valid(now):
            raise GatewayError(403, "subscription has expired", code="SUBSCRIPTION_INVALID")
        window = subscriptions.exceeded_window(subscription, subscription.group, now)
        if window is not None:
            raise GatewayError(429, f"Subscription {window} usage limit exceeded", code="USAGE_LIMIT_EXCEEDED")
        ctx.subscription = subscription
    elif key.user_balance <= 0:
        raise GatewayError(403, "Insufficient account balance", code="INSUFFICIENT_BALANCE")


# last_used_at: at most one write per key every TOUCH_INTERVAL seconds, off the request path.
_touched: dict[int, float] = {}
_touch_tasks: set = set()


def _write_last_used(key_id: int):
    from apikeys.models import ApiKey

    ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())


def _touch(key_id: int):
    now = time.monotonic()
    if now - _touched.get(key_id, -TOUCH_INTERVAL) < TOUCH_INTERVAL:
        return
    _touched[key_id] = now
    task = asyncio.get_running_loop().create_task(db.run(_write_last_used, key_id))
    _touch_tasks.add(task)
    task.add_done_callback(_touch_tasks.discard)
