"""Upstream HTTP: one aiohttp ClientSession per event loop, created lazily, with keep-alive pooling.

Sessions never decompress and never send cookies: every upstream header is built explicitly by the
upstream adapter.
"""

import asyncio

import aiohttp
from yarl import URL

from gateway.errors import GatewayError

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
    from billing.settlement import drain

    await drain()
    loop = asyncio.get_running_loop()
    session = _sessions.pop(id(loop), None)
    if session is not None and not session.closed:
        await session.close()


def proxy_for(account) -> str | None:
    """The account's HTTP(S) proxy URL. SOCKS would need another client library: refuse rather than
    silently connect from our own address."""
    proxy = account.proxy
    if proxy is None or not proxy.is_active:
        return None
    if proxy.protocol not in ("http", "https"):
        raise GatewayError(502, f"Account proxy protocol {proxy.protocol} is not supported", error_type="api_error")
    return proxy.url


async def post(url, body, headers, timeout, proxy) -> aiohttp.ClientResponse:
    """POST, once more if the upstream had closed the pooled keep-alive connection without answering.

    The URL goes out exactly as the adapter built it (a signed path must not be re-quoted on the way)."""
    session = get_session()
    url = URL(url, encoded=True)
    try:
        return await session.post(url, data=body, headers=headers, timeout=timeout, proxy=proxy)
    except aiohttp.ServerDisconnectedError:
        return await session.post(url, data=body, headers=headers, timeout=timeout, proxy=proxy)


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole answer, refusing more than `limit` bytes (spec §2.11: 8 MiB)."""
    chunks, size = [], 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            response.close()
            raise GatewayError(502, "Upstream response too large", error_type="upstream_error")
        chunks.append(chunk)
    return b"".join(chunks)
