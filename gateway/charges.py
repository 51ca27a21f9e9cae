"""From a served request to its charge: the ChargeRequest billing applies (billing.charge), settled by
billing.settlement.

`settle` is awaited before an answer's last bytes leave (durable before delivered); `submit` is for a
client that is gone, whose charge nobody waits for."""

import time

from apikeys import windows
from billing import settlement
from billing.charge import ChargeRequest
from billing.cost import Usage
from gateway.auth import AuthContext
from gateway.dialects import Inbound


def request(ctx: AuthContext, inbound: Inbound, attempt, usage: Usage, *, overridden: bool, stream: bool,
            first_token_ms: int | None, status: int, incomplete: bool = False) -> ChargeRequest:
    key = ctx.key
    return ChargeRequest(
        request_id=inbound.request_id, api_key_id=key.key_id, key_hash=key.key_hash, key_quota=key.quota,
        user_id=key.user_id, group_id=key.group_id, account=attempt.account, model=inbound.model, usage=usage,
        rate_multiplier=key.rate_multiplier,
        subscription_id=ctx.subscription.pk if ctx.subscription is not None else None,
        upstream_model=attempt.upstream_model, cache_ttl_overridden=overridden, stream=stream,
        duration_ms=int((time.monotonic() - inbound.started) * 1000), first_token_ms=first_token_ms,
        status=status, endpoint=inbound.endpoint, user_agent=inbound.user_agent, ip_address=ctx.client_ip,
        usage_incomplete=incomplete, key_windows=windows.has_limits(key),
    )


async def settle(*args, **kwargs):
    return await settlement.settle(request(*args, **kwargs))


def submit(*args, **kwargs):
    return settlement.submit(request(*args, **kwargs))
