"""Sending one request upstream, failing over between accounts (spec §2.10-2.12).

Per attempt: the scheduler picks an account and its upstream adapter; the adapter builds the request;
an answer >= 400 before any byte reached the client goes to the failover rules, which mark the account
and say whether to retry it in place (pool mode), switch to another account, or relay the error.
"""

import asyncio
import functools
import logging
from dataclasses import dataclass

import aiohttp
from django.conf import settings
from django.http import HttpResponse

from core import db, jsonutil
from gateway import claudecode, failover, http, scheduler, slots
from gateway.auth import AuthContext
from gateway.dialects import Inbound
from gateway.errors import (
    GatewayError,
    concurrency_exceeded,
    failover_exhausted,
    hint_relayed,
    no_available_account,
    upstream_failed,
)
from gateway.upstreams import UpstreamMisconfigured

log = logging.getLogger(__name__)


@dataclass
class Attempt:
    """The account that answered, still holding its slot, and its answer's headers (body unread)."""

    lease: scheduler.Lease
    response: aiohttp.ClientResponse

    @property
    def account(self):
        return self.lease.account

    @property
    def upstream(self):
        return self.lease.upstream

    @property
    def upstream_model(self) -> str:
        return self.lease.upstream_model

    @property
    def mapped_model(self) -> str:
        return self.lease.mapped_model

    @property
    def ttl_target(self) -> str | None:
        return self.upstream.cache_ttl_target(self.account)

    @property
    def is_stream(self) -> bool:
        return self.upstream.is_stream(self.response.headers)

    def copy_headers(self, response) -> None:
        self.upstream.pass_headers(self.response.headers, response)


def relayed_error(inbound: Inbound, upstream, status: int, headers, body: bytes) -> HttpResponse:
    """An upstream error answer the client will see: as the upstream sent it when it is JSON (in the
    dialect's shape where the adapter translates it), else wrapped in the client dialect's error shape."""
    body = upstream.decode_error(status, headers, body)
    if jsonutil.parse(body) is None:
        text = body[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
        response = inbound.dialect.error_response(status, f"Upstream error: {text}", error_type="upstream_error")
    else:
        response = HttpResponse(body, status=status, content_type=headers.get("content-type", "application/json"))
    upstream.pass_headers(headers, response)
    hint_relayed(response)
    return response


def _timeout(inbound: Inbound) -> aiohttp.ClientTimeout:
    idle = settings.STREAM_IDLE_TIMEOUT if inbound.stream else settings.UPSTREAM_RESPONSE_HEADER_TIMEOUT
    return aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=idle)


async def forward(request, ctx: AuthContext, inbound: Inbound) -> Attempt | HttpResponse:
    """Send the request to an account, failing over as failover.py decides.

    Returns the successful attempt (its lease still held, the caller releases it) or an upstream error
    that is the client's to see (400, 404, ...) as it is; raises GatewayError when no account can be
    used at all, or when every account tried failed (failover_exhausted).
    """
    key, dialect = ctx.key, inbound.dialect
    platform = key.group_platform or next(iter(dialect.platforms))
    sticky = dialect.session_hash(inbound, request, ctx.client_ip, key.key_id)
    continued = dialect.continues(inbound)
    from_claude_code = functools.cache(lambda: claudecode.is_claude_code(inbound))
    exclude: set[int] = set()
    last_error: HttpResponse | None = None
    failed_status: int | None = None  # the last failover status, once an account failed over
    misconfigured: str | None = None
    switches = 0
    timeout = _timeout(inbound)
    while True:
        selection = scheduler.SelectionRequest(
            group_id=key.group_id, platform=platform, model=inbound.model, user_id=key.user_id,
            api_key_id=key.key_id, stream=inbound.stream, session_hash=sticky, request_id=inbound.holder,
            action=inbound.action, continues=continued, claude_code=from_claude_code,
        )
        try:
            lease = await scheduler.select_account(selection, frozenset(exclude))
        except scheduler.NoAccountAvailable as exc:
            if failed_status is not None:
                raise failover_exhausted(failed_status)
            if last_error is not None:
                return last_error
            if misconfigured is not None:
                raise GatewayError(502, f"Upstream account misconfigured: {misconfigured}", error_type="api_error")
            raise no_available_account(str(exc))
        except slots.ConcurrencyLimitExceeded as exc:
            raise concurrency_exceeded(str(exc))
        account, upstream = lease.account, lease.upstream
        handed_over = False
        decision = None
        try:
            proxy = http.proxy_for(account)
            try:
                call = upstream.request(inbound, account, lease.upstream_model,
                                        dialect.body_for(inbound, lease.mapped_model))
            except UpstreamMisconfigured as exc:
                # Nothing was sent: the account is unusable until an admin fixes it.
                misconfigured = str(exc)
                log.warning("account %s misconfigured: %s", account.pk, exc)
                await db.run(account.mark_error, f"Misconfigured: {exc}")
            else:
                retries = 0
                while True:
                    try:
                        response = await http.post(call.url, call.body, call.headers, timeout, proxy)
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        log.warning("upstream request to account %s failed: %r", account.pk, exc)
                        raise upstream_failed()
                    if response.status < 400:
                        handed_over = True
                        return Attempt(lease=lease, response=response)
                    try:
                        error_body = await response.read()
                    except (TimeoutError, aiohttp.ClientError):
                        error_body = b""
                    finally:
                        response.release()
                    last_error = relayed_error(inbound, upstream, response.status, response.headers, error_body)
                    decision = await failover.handle_upstream_error(
                        account, response.status, response.headers, error_body, upstream)
                    if decision.retry_same and retries < failover.pool_retry_count(account):
                        retries += 1
                        await asyncio.sleep(settings.POOL_MODE_RETRY_DELAY)
                        continue
                    if decision.retry_same:
                        await failover.pool_retries_exhausted(account, response.status)
                    break
        finally:
            if not handed_over:
                await lease.release()
        if decision is not None:
            if not decision.switch_account:
                return last_error
            failed_status = last_error.status_code
        if switches >= settings.MAX_ACCOUNT_SWITCHES:
            if failed_status is None:
                raise GatewayError(502, f"Upstream account misconfigured: {misconfigured}", error_type="api_error")
            raise failover_exhausted(failed_status)
        exclude.add(account.pk)
        switches += 1
