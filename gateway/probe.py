"""Testing an account from the admin: one minimal request through its upstream adapter, and a plain
sentence saying what happened ("OK, answered in 412 ms", "the upstream refused the credentials (403): ...").

Nothing is billed and no slot is taken; the account's state is not changed by the result.
"""

import time
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from core import jsonutil
from gateway import dialects, upstreams
from gateway.errors import GatewayError
from gateway.http import proxy_for

TIMEOUT = 60


@dataclass
class ProbeResult:
    ok: bool
    message: str
    status: int | None = None
    model: str = ""
    upstream_model: str = ""
    elapsed_ms: int = 0


def _model_for(account, dialect) -> str:
    mapped = [m for m in (account.model_mapping or {}) if not m.endswith("*")]
    if mapped:
        return mapped[0]
    exact = [m for m in (account.allowed_models or []) if not m.endswith("*")]
    if exact:
        return exact[0]
    return dialect.probe_model


def _explain(status: int, body: bytes, meaning: int | None = None) -> str:
    data = jsonutil.parse(body)
    detail = ""
    if isinstance(data, dict):
        error = data.get("error")
        detail = (error.get("message") if isinstance(error, dict) else None) or data.get("message") or ""
    detail = str(detail or body[:300].decode("utf-8", "replace")).strip()
    what = {401: "the upstream refused the credentials", 403: "the upstream refused access",
            404: "the upstream does not know this model or path", 429: "the upstream is rate limiting this account",
            529: "the upstream is overloaded"}.get(meaning or status, "the upstream answered with an error")
    return f"{what} ({status}): {detail}" if detail else f"{what} ({status})"


async def probe(account, model: str | None = None) -> ProbeResult:
    upstream = upstreams.for_account(account)
    if upstream is None:
        return ProbeResult(False, f"no upstream serves {account.platform} {account.type} accounts yet")
    dialect = dialects.for_platform(upstream.platform)  # the protocol the account's upstream speaks
    model = model or _model_for(account, dialect)
    upstream_model = upstream.model_for(account, model) if model else None
    if not upstream_model:
        return ProbeResult(False, f"this account does not serve the model {model!r} (check its model mapping)",
                           model=model)
    inbound = dialect.probe_inbound(model)
    body = dialect.body_for(inbound, upstream.mapped_model(account, model))
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    try:
        await upstream.prepare(account)
        call = upstream.request(inbound, account, upstream_model, body)
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.post(URL(call.url, encoded=True), data=call.body, headers=call.headers,
                         proxy=proxy_for(account), timeout=timeout) as response,
        ):
            raw = await response.read()
            status, headers = response.status, CIMultiDict(response.headers)
    except upstreams.UpstreamMisconfigured as exc:
        return ProbeResult(False, f"the account is missing what it needs: {exc}", model=model)
    except upstreams.AccountNotReady as exc:
        return ProbeResult(False, f"the account is not ready: {exc}", model=model)
    except GatewayError as exc:
        return ProbeResult(False, exc.message, model=model)
    except TimeoutError:
        return ProbeResult(False, f"no answer within {TIMEOUT} s", model=model)
    except aiohttp.ClientError as exc:
        return ProbeResult(False, f"could not reach the upstream: {exc}", model=model)
    elapsed = int((time.monotonic() - started) * 1000)
    if status >= 400:
        meaning = upstream.failover_status(status, raw)  # e.g. Google's 400 for a refused key means a 401
        return ProbeResult(False, _explain(status, upstream.decode_error(status, headers, raw), meaning), status=status,
                           model=model, upstream_model=upstream_model, elapsed_ms=elapsed)
    return ProbeResult(True, f"OK: {model} answered in {elapsed} ms", status=status, model=model,
                       upstream_model=upstream_model, elapsed_ms=elapsed)


__all__ = ["ProbeResult", "probe"]
