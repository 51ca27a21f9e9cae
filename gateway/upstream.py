"""Upstream HTTP: one aiohttp ClientSession per event loop, created lazily, with keep-alive pooling.

Sessions never decompress (`auto_decompress=False` is not needed: we ask for `identity`) and never
send cookies: every upstream header is built explicitly by the caller.
"""

import asyncio

import aiohttp

_sessions: dict[int, aiohttp.ClientSession] = {}


def get_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(id(loop))
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=300)
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            auto_decompress=False,
        )
        _sessions[id(loop)] = session
    return session


async def close_sessions():
    """ASGI shutdown: let pending charges finish, then close this loop's upstream session."""
    from billing.charge import drain

    await drain()
    loop = asyncio.get_running_loop()
    session = _sessions.pop(id(loop), None)
    if session is not None and not session.closed:
        await session.close()
