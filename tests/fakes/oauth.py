"""A fake OAuth token endpoint (Claude's `POST /v1/oauth/token`) on 127.0.0.1.

It runs its own event loop in a thread so that sync code (the `requests` call of the token refresh) and
async tests can both use it. Tests queue answers with `answer(status, json)`; without a queued answer
it issues a new token pair. `requests` records every JSON body received.
"""

import asyncio
import itertools
import threading

from aiohttp import web


class FakeOAuth:
    def __init__(self):
        self.requests: list[dict] = []
        self._answers: list[tuple[int, dict]] = []
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self.delay = 0.0
        self.port = None
        self._loop = None
        self._runner = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/oauth/token"

    def answer(self, status: int, body: dict, times: int = 1):
        with self._lock:
            self._answers.extend([(status, body)] * times)

    async def _token(self, request):
        try:
            body = await request.json()
        except ValueError:
            body = {"_raw": await request.text()}
        with self._lock:
            self.requests.append(body)
            queued = self._answers.pop(0) if self._answers else None
        if self.delay:
            await asyncio.sleep(self.delay)
        if queued:
            return web.json_response(queued[1], status=queued[0])
        n = next(self._serial)
        return web.json_response({
            "token_type": "Bearer", "access_token": f"sk-ant-oat01-new-{n}", "refresh_token": f"sk-ant-ort01-new-{n}",
            "expires_in": 28800, "scope": "user:inference",
        })

    def start(self):
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/v1/oauth/token", self._token)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-oauth", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self):
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
