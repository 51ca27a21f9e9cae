"""Claude OAuth and setup-token accounts: Anthropic's API with `Authorization: Bearer <access token>`.

The OAuth beta is merged into the client's betas; the token is refreshed before use when it is about to
expire (accounts.oauth), and a 401 expires it, pauses the account briefly and refreshes it in the
background. These accounts can bill every prompt-cache write as one TTL (S5, `cache_ttl_override`).
"""

import asyncio

from django.conf import settings
from django.utils import timezone

from gateway.upstreams.anthropic import AnthropicUpstream
from gateway.upstreams.base import AccountNotReady

OAUTH_BETA = "oauth-2025-04-20"
CLAUDE_CODE_BETA = "claude-code-20250219"
_refreshing: set = set()


def merge_oauth_beta(client_beta: str) -> str:
    tokens = [t.strip() for t in client_beta.split(",") if t.strip()]
    if OAUTH_BETA in tokens:
        return ",".join(tokens)
    if CLAUDE_CODE_BETA in tokens:
        tokens.insert(tokens.index(CLAUDE_CODE_BETA) + 1, OAUTH_BETA)
    else:
        tokens.insert(0, OAUTH_BETA)
    return ",".join(tokens)


class ClaudeOAuth(AnthropicUpstream):
    name = "claude-oauth"
    types = frozenset({"oauth", "setup-token"})
    beta_scope = "oauth"

    async def prepare(self, account):
        from accounts.oauth import TokenRefreshError, ensure_fresh_token

        await super().prepare(account)
        try:
            await ensure_fresh_token(account)
        except TokenRefreshError as exc:
            raise AccountNotReady(str(exc))

    def authorize(self, headers, account):
        headers["authorization"] = f"Bearer {account.access_token}"
        headers["anthropic-beta"] = merge_oauth_beta(headers.get("anthropic-beta", ""))

    def unauthorized(self, account, text):
        if account.type != "oauth":  # a setup token cannot be refreshed
            return super().unauthorized(account, text)
        # Expire the token so the next use refreshes it; refresh now in the background.
        account.set_state(token_expires_at=timezone.now())
        account.mark_temp_unschedulable(settings.OAUTH_401_COOLDOWN_MINUTES, f"OAuth 401: {text[:500]}")
        return "token_refresh"

    async def after_mark(self, account, mark):
        if mark != "token_refresh":
            return
        from accounts.oauth import refresh_after_401

        task = asyncio.get_running_loop().create_task(refresh_after_401(account.pk))
        _refreshing.add(task)
        task.add_done_callback(_refreshing.discard)

    def cache_ttl_target(self, account):
        if not account.cache_ttl_override:
            return None
        return "1h" if account.cache_ttl_override == "1h" else "5m"
