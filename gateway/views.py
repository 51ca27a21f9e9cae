from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


async def _redis_ok() -> bool:
    from gateway.redis import get_redis

    try:
        return bool(await get_redis().ping())
    except Exception:
        return False


async def healthz(request):
    """For load balancers and operators: 200 when every backing service answers, else 503."""
    checks = {"database": "ok" if await sync_to_async(_database_ok)() else "down"}
    if settings.REDIS_URL:
        checks["redis"] = "ok" if await _redis_ok() else "down"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)
