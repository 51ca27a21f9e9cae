"""Upstream HTTP: one aiohttp ClientSession per event loop."""


async def close_sessions():
    pass
