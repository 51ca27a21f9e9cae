"""Account limits and Claude-Code-only groups end to end: the official anthropic SDK against the live gateway,
the fake Anthropic API behind it, on either engine. Which account served a request is told by the bearer
token the fake received."""

import json
from decimal import Decimal

import anthropic
import pytest

from accounts import limits
from accounts.models import Account
from billing.models import UsageLog
from groups.models import Group, GroupAccount
from tests.live import make_setup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_account_limit_counts")]
MODEL = "claude-sonnet-4-5"
# What Claude Code sends besides its body (the SDK adds anthropic-version).
CLAUDE_CODE = {"User-Agent": "claude-cli/2.0.14 (external, cli)", "x-app": "cli",
               "anthropic-beta": "claude-code-20250219"}
CLAUDE_CODE_SYSTEM = [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."}]



def sdk(setup, url, **headers):
    return anthropic.Anthropic(api_key=setup.raw_key, base_url=url, max_retries=0, default_headers=headers)


def user_id(session: str) -> str:
    return json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": session})


def send(client, session: str, text: str = "hi"):
    return client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": text}],
                                  metadata={"user_id": user_id(session)}, system=CLAUDE_CODE_SYSTEM)


def served_by(fake) -> list[str]:
    """The account index (the -N of its token) of every request the fake received."""
    return [r.headers["authorization"].rsplit("-", 1)[1] for r in fake.requests]


def pair(fake, **limited_fields):
    """Two setup-token accounts; the first (preferred) carries the limits."""
    setup = make_setup(fake.url, accounts=2, account_type="setup-token")
    first = setup.accounts[0]
    for name, value in {"priority": 10, **limited_fields}.items():
        setattr(first, name, value)
    first.save()
    return setup


def test_base_rpm_sends_new_sessions_elsewhere(anthropic_fake, gateway_url):
    setup = pair(anthropic_fake, base_rpm=2, rpm_sticky_buffer=1)
    client = sdk(setup, gateway_url)
    for session in ("s1", "s2", "s3"):
        send(client, session)
    send(client, "s1")  # sticky: within the buffer
    send(client, "s2")  # base + buffer used up
    assert served_by(anthropic_fake) == ["0", "0", "1", "0", "1"]


def test_max_sessions_keeps_known_sessions_and_refuses_new_ones(anthropic_fake, gateway_url):
    setup = pair(anthropic_fake, max_sessions=1)
    client = sdk(setup, gateway_url)
    for session in ("s1", "s2", "s1", "s3", "s1"):
        send(client, session)
    assert served_by(anthropic_fake) == ["0", "1", "0", "1", "0"]


def test_window_cost_is_fed_by_the_charges(anthropic_fake, gateway_url):
    # The fake's answer costs $0.000105 on claude-sonnet-4-5: one request crosses the limit, two the reserve.
    setup = pair(anthropic_fake, window_cost_limit=Decimal("0.0001"), window_cost_sticky_reserve=Decimal("0.0001"))
    client = sdk(setup, gateway_url)
    send(client, "s1")
    send(client, "s2")  # sticky-only now: a new session goes to the other account
    send(client, "s1")  # the reserve serves the session already there
    send(client, "s1")  # the reserve is spent too
    assert served_by(anthropic_fake) == ["0", "1", "0", "1"]
    limited = Account.objects.get(pk=setup.accounts[0].pk)
    logs = UsageLog.objects.filter(account=limited)
    assert logs.count() == 2
    assert limited.window_cost_used == sum(log.total_cost * log.account_rate_multiplier for log in logs)
    assert limits.window_cost_zone(limited) == limits.NOT_SCHEDULABLE


def test_claude_code_only_group_serves_claude_code_and_sends_others_to_the_fallback(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, account_type="setup-token")
    fallback = Group.objects.create(name="fallback-for-others")
    other = Account.objects.create(name="fallback-account", type="setup-token", base_url=anthropic_fake.url,
                                   access_token="oauth-access-9", concurrency=0)
    GroupAccount.objects.create(group=fallback, account=other)
    setup.group.claude_code_only, setup.group.fallback_group = True, fallback
    setup.group.save()
    send(sdk(setup, gateway_url, **CLAUDE_CODE), "cc")
    send(sdk(setup, gateway_url), "sdk")
    send(sdk(setup, gateway_url, **{"User-Agent": "curl/8.0"}), "curl")
    # Claude Code's user agent without its metadata, or without its other headers, is not Claude Code either.
    sdk(setup, gateway_url, **CLAUDE_CODE).messages.create(
        model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}], system=CLAUDE_CODE_SYSTEM)
    send(sdk(setup, gateway_url, **{"User-Agent": CLAUDE_CODE["User-Agent"]}), "ua only")
    assert served_by(anthropic_fake) == ["0", "9", "9", "9", "9"]


def test_claude_code_only_group_without_fallback_refuses_other_clients(anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, account_type="setup-token", group_fields={"claude_code_only": True})
    with pytest.raises(anthropic.APIStatusError) as refused:
        send(sdk(setup, gateway_url), "sdk")
    assert refused.value.status_code == 503
    assert refused.value.body["error"]["message"] == "No available accounts: this group only allows Claude Code clients"
    assert anthropic_fake.requests == []
    send(sdk(setup, gateway_url, **CLAUDE_CODE), "cc")
    assert served_by(anthropic_fake) == ["0"]
