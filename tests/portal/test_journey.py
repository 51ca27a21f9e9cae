"""The whole portal journey in a real browser (Debian's chromium via Playwright) on the live server:
sign in, create a key, call the gateway with it through the anthropic SDK (a fake Anthropic upstream
behind it), see the request in the usage page; then the snippets, balance and the Chinese portal.

PORTAL_SCREENSHOTS=docs writes the pages as PNGs (the README's screenshots come from this run)."""

import os
import re
from decimal import Decimal
from pathlib import Path

import anthropic
import pytest

from billing import balance
from billing.models import UsageLog
from billing.settlement import drain_sync
from tests.fakes.anthropic import Reply, message, usage
from tests.live import make_setup, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-journey-1234"
SHOTS = os.environ.get("PORTAL_SCREENSHOTS")


def submit(page, selector="main button[type=submit]"):
    with page.expect_navigation():
        page.click(selector)


def shot(page, name):
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"portal-{name}.png"), full_page=True)


@pytest.fixture
def page(browser, gateway_url):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway_url)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.base = gateway_url
    yield page
    context.close()


def test_sign_in_create_a_key_call_the_gateway_and_see_the_usage(page, anthropic_fake, gateway_url):
    setup = make_setup(anthropic_fake.url, balance="20")
    user = setup.user
    user.email = "dev@example.com"
    user.set_password(PASSWORD)
    user.save()
    setup.group.name = "claude"
    setup.group.save()
    setup.key.delete()  # the user starts without keys: the portal makes the one they use
    balance.adjust(user, Decimal("5"), kind="admin", note="Welcome credit")

    # sign in
    page.goto(f"{page.base}/portal/")
    assert "/portal/login/" in page.url
    shot(page, "login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", "wrong")
    submit(page)
    assert "Wrong email or password." in page.inner_text("main")
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    assert page.url.endswith("/portal/keys/")
    assert "No keys yet" in page.inner_text("[data-testid=keys-table]")

    # create a key: a bad value first, then a good one
    page.click("text=New key")
    page.fill("input[name=name]", "laptop")
    page.select_option("select[name=group]", str(setup.group.pk))
    page.fill("input[name=quota]", "-3")
    submit(page)
    assert page.inner_text(".portal-field-error") == "must be >= 0"
    page.fill("input[name=quota]", "15")
    page.fill("input[name=rate_limit_1d]", "5")
    submit(page)
    secret = page.inner_text("[data-testid=key-secret]").strip()
    assert secret.startswith("sk-") and len(secret) > 40
    page.click("[data-copy-target=key-secret]")
    assert page.inner_text("[data-copy-target=key-secret] .portal-copy-label") == "Copied"
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert f'base_url="{gateway_url}",\n    api_key="{secret}",' in page.inner_text("#snippet-anthropic")
    shot(page, "key-created")

    # call the gateway with it, as the snippet says
    anthropic_fake.reply(Reply(body=message(model="claude-sonnet-4-5-20250929", text="hello from upstream",
                                            usage_=usage(input=1200, output=340))))
    client = anthropic.Anthropic(base_url=gateway_url, api_key=secret, max_retries=0)
    reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                   messages=[{"role": "user", "content": "hi"}])
    assert reply.content[0].text == "hello from upstream"
    drain_sync()
    assert wait_until(lambda: UsageLog.objects.filter(user=user).exists())

    # the usage appears
    page.click("text=Usage")
    page.wait_for_url("**/portal/usage/")
    assert page.inner_text("[data-testid=kpi-requests]") == "1"
    table = page.inner_text("[data-testid=usage-table]")
    assert "claude-sonnet-4-5" in table and "1200" in table and "340" in table and "laptop" in table
    assert "20250929" not in page.content()  # never the upstream model
    # the charts drew (Chart.js from unfold's static files)
    assert page.evaluate("Chart.getChart(document.querySelector('[data-testid=chart-day]')).data"
                         ".datasets[0].data.at(-1)") == 1
    assert page.evaluate("Chart.getChart(document.querySelector('[data-testid=chart-model]')).data.labels") == [
        "claude-sonnet-4-5"]
    shot(page, "usage")
    with page.expect_download() as download:
        page.click("[data-testid=usage-csv]")
    csv_text = Path(download.value.path()).read_text()
    assert "claude-sonnet-4-5" in csv_text and "20250929" not in csv_text

    # the key list shows what it spent
    page.click("text=API keys")
    row = page.inner_text("[data-testid=keys-table] tbody tr")
    assert "laptop" in row and "1d" in row
    shot(page, "keys")

    # snippets and balance
    page.click("text=Quick start")
    assert "export ANTHROPIC_BASE_URL=" + gateway_url in page.inner_text("#snippet-claude-code")
    shot(page, "snippets")
    page.click("text=Balance")
    history = page.inner_text("[data-testid=balance-history]")
    assert "Welcome credit" in history and "+5.0000" in history
    user.refresh_from_db()
    assert page.inner_text("[data-testid=balance]") == f"${user.balance.quantize(Decimal('0.0001'))}"
    assert user.balance < Decimal("25")  # the request was charged
    shot(page, "balance")

    # the same portal in Chinese
    page.click("button[name=language][value=zh-hans]")
    page.wait_for_url("**/portal/balance/")
    assert "余额" in page.inner_text("main") and "变动记录" in page.inner_text("main")
    page.click("text=用量")
    assert "按天" in page.inner_text("main")
    shot(page, "usage-zh")

    # reset: the old secret stops working, the new one is shown once
    page.click("text=API 密钥")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=keys-table] tbody tr button:has-text('重置')")
    new_secret = page.inner_text("[data-testid=key-secret]").strip()
    assert new_secret != secret
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}])

    # sign out
    page.click("form[action='/portal/logout/'] button")
    page.wait_for_url("**/portal/login/")
    assert re.search(r"登录", page.inner_text("main"))
