"""The one ASGI application.

Gateway routes go to a Django handler without middleware: each sync middleware would cost the hot path
a thread hop per request, and none of them (sessions, CSRF, auth, messages) applies to API-key traffic.
Everything else (admin, REST API, static files) goes through the normal stack.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402

GATEWAY_PREFIXES = ("/v1/", "/v1beta/", "/antigravity/")


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler for the gateway routes, without middleware and without a thread per request.

    Django runs every request in its own asgiref ThreadSensitiveContext, which starts a thread (and one
    more to join it) for each request: the benchmark measured that as close to half of the gateway's CPU
    per request, and 500 open streams held 500 threads. The gateway has no sync view code; its few sync
    calls (loading a key or the accounts on a cache miss) share the process's thread-sensitive thread,
    and with it one database connection, instead.
    """

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)


def is_gateway(scope) -> bool:
    path = scope.get("path", "")
    return path.startswith(GATEWAY_PREFIXES) or (scope.get("method") == "HEAD" and path in ("/", "/api/hello"))


_site = ASGIStaticFilesHandler(ASGIHandler())
_gateway = GatewayASGIHandler()


async def application(scope, receive, send):
    if scope["type"] == "http" and is_gateway(scope):
        return await _gateway(scope, receive, send)
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    return await _site(scope, receive, send)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from gateway.upstream import close_sessions

            await close_sessions()
            await send({"type": "lifespan.shutdown.complete"})
            return
