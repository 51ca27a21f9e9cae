"""The one ASGI application.

Gateway routes go to a Django handler without middleware: each sync middleware would cost the hot path
a thread hop per request, and none of them (sessions, CSRF, auth, messages) applies to API-key traffic.
Everything else (admin, REST API, static files) goes through the normal stack.
"""

import asyncio
import contextlib
import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
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
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] != "http":
        return await _site(scope, receive, send)
    gateway = is_gateway(scope)
    limit = settings.GATEWAY_MAX_BODY_BYTES if gateway else settings.SITE_MAX_BODY_BYTES
    body = BodyGuard(scope, receive, send, limit)
    if body.declared_too_large():
        return await body.refuse(413)  # before reading a byte of it, and before authentication
    await (_gateway if gateway else _site)(scope, body.receive, body.send)
    if body.refused_status and not body.started:
        await body.refuse(body.refused_status)


class BodyGuard:
    """The request body as the application reads it, within `limit` bytes and HTTP_BODY_TIMEOUT seconds of
    silence; past either, the application sees the client as gone and the client gets 413 / 408 in its
    protocol's shape (a gateway dialect's error, the REST envelope, or plain text)."""

    def __init__(self, scope, receive, send, limit: int):
        self.scope, self._receive, self._send, self.limit = scope, receive, send, limit
        self.read = 0
        self.started = False
        self.refused_status = 0

    def declared_too_large(self) -> bool:
        for name, value in self.scope.get("headers", ()):
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.limit
        return False

    async def receive(self):
        try:
            async with asyncio.timeout(settings.HTTP_BODY_TIMEOUT):
                message = await self._receive()
        except TimeoutError:
            self.refused_status = 408
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                self.refused_status = 413
                return {"type": "http.disconnect"}
        return message

    async def send(self, message):
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def refuse(self, status: int):
        from django.http import JsonResponse

        from core.rest import error_body
        from gateway import dialects
        from gateway.errors import GatewayError

        path = self.scope.get("path", "")
        message = "Request body too large" if status == 413 else "Request body not received in time"
        if is_gateway(self.scope):
            error_type = "request_too_large" if status == 413 else "invalid_request_error"
            response = GatewayError(status, message, error_type=error_type).response(dialects.for_path(path))
        elif path.startswith("/api/"):
            response = JsonResponse(error_body(status, message), status=status)
        else:
            response = JsonResponse({"detail": message}, status=status)
        headers = [(k.lower().encode(), v.encode()) for k, v in response.items()]
        headers.append((b"connection", b"close"))
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": response.content})


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await _replay_charges()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from gateway.http import close_sessions

            await close_sessions()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _replay_charges():
    """Charges a previous process journaled because the database was unreachable: applied before serving."""
    from billing import settlement
    from core import db

    if not settlement.journal_waiting():
        return
    try:
        await db.run(settlement.replay_journal)
    except Exception:  # the database may still be down: the gateway replays again after its next charge
        logging.getLogger(__name__).exception("replaying the journaled charges failed")
