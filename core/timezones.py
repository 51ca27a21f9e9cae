"""The admin shows dates in the signed-in user's own zone when they have one (a `time_zone` attribute
holding an IANA name), else in settings.TIME_ZONE. Only admin pages look at the user, so the API and the
portal do not load a session for it."""

import zoneinfo

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.utils import timezone

ADMIN_PREFIX = "/admin/"


def zone_of(user) -> zoneinfo.ZoneInfo | None:
    name = getattr(user, "time_zone", "") or ""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None  # a stale or mistyped name falls back to TIME_ZONE rather than breaking every page


class UserTimeZoneMiddleware:
    """Sync and async capable, so the ASGI stack never hops threads for it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        zone = zone_of(request.user) if request.path_info.startswith(ADMIN_PREFIX) else None
        with timezone.override(zone):
            return self.get_response(request)

    async def _acall(self, request):
        zone = zone_of(await request.auser()) if request.path_info.startswith(ADMIN_PREFIX) else None
        with timezone.override(zone):
            return await self.get_response(request)
