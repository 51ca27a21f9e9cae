"""The one ASGI application.

Gateway routes go to a Django handler without middleware: each sync middleware would cost the hot path
a thread hop per request, and none of them (sessions, CSRF, auth, messages) applies to API-key traffic.
Everything else (admin, REST API, static files) goes through the normal stack.
"""

import asyncio
import contextlib
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, RequestAborted  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402

from gateway.urls import PREFIXES as GATEWAY_PREFIXES  # noqa: E402


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler for the gateway routes: no middleware, no thread per request, no thread hop.

    Django runs every request in its own asgiref ThreadSensitiveContext, which starts a thread (and one
    more to join it) for each request: the benchmark measured that as close to half of the gateway's CPU
    per request, and 500 open streams held 500 threads. It also sends `request_started` and closes the
    response on a worker thread, two more thread hops whose only work is database connection upkeep.
    The gateway's view code is async and its few database calls (cache misses) go through
    `core.db.run`, which gives the connection back itself; so this handler serves a request on the
    event loop alone.
    """

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        answered = []  # the response, once there is one
        try:
            request, response = self.create_request(scope, body_file)
            if request is None:
                answered.append(response)
                await self.send_response(response, send)
            else:
                await self._serve(request, receive, send, answered)
        finally:
            for response in answered:
                response.close()  # frees what it holds: a stream's slots and upstream request
            body_file.close()

    async def _serve(self, request, receive, send, answered: list):
        """Respond, unless the client disconnects first: then the view (or the stream being sent) is
        cancelled, and with it the upstream request."""

        async def respond():
            response = await self.run_get_response(request)
            answered.append(response)
            with contextlib.suppress(asyncio.CancelledError):  # the client left while it was being sent
                await self.send_response(response, send)

        serving = asyncio.create_task(respond())
        watching = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait((serving, watching), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watching, serving):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await task


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
            from gateway.http import close_sessions

            await close_sessions()
            await send({"type": "lifespan.shutdown.complete"})
            return
