"""Screenshots of the admin for the docs: account list (groups, today's numbers, quota badges at several
thresholds), the drag-sortable group list, the API key form, the Bedrock account form, the model mapping
editor and the group routing editor (with a validation message), the usage dashboard, usage logs and the
price table.

    .venv/bin/python docs/screenshots.py            # writes docs/admin-*.png
    .venv/bin/python docs/screenshots.py admin-dashboard.png   # only the named ones

Uses a throw-away SQLite data dir, Django's threaded live server and Debian's chromium (apt-get install
chromium); never touches var/.
"""

import os
import sys
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="subrelay-shots-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
for name in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.testcases import LiveServerThread  # noqa: E402
from django.utils import timezone  # noqa: E402

D = Decimal


def seed():
    from accounts.models import Account
    from apikeys.models import ApiKey
    from groups.models import Group, GroupAccount
    from users.models import User

    now = timezone.now()
    admin = User.objects.create_superuser("admin@example.com", "screenshots-only")
    user = User.objects.create_user("dev@example.com", "screenshots-only", balance=D("42.50"))

    def account(name, runtime=None, **fields):
        obj = Account.objects.create(name=name, **fields)
        if runtime:
            Account.objects.filter(pk=obj.pk).update(**runtime)
        return obj

    pool1 = account("claude-pool-1", type="apikey", quota_daily_limit=D(10), quota_weekly_limit=D(50),
                    quota_limit=D(200), runtime={
                        "quota_daily_used": D("3.20"), "quota_daily_start": now - timedelta(hours=5),
                        "quota_weekly_used": D("42.00"), "quota_weekly_start": now - timedelta(days=3),
                        "quota_used": D("61.75")})
    pool2 = account("claude-pool-2", type="apikey", quota_daily_limit=D(10), quota_limit=D(100), runtime={
        "quota_daily_used": D("10.40"), "quota_daily_start": now - timedelta(hours=20), "quota_used": D("35")})
    account("claude-pool-3 (period lapsed)", type="apikey", quota_daily_limit=D(10), runtime={
        "quota_daily_used": D("11"), "quota_daily_start": now - timedelta(hours=26), "quota_used": D("11")})
    bedrock = account("bedrock-us-east", type="bedrock", bedrock_auth_mode="apikey", api_key="x",
                      aws_region="eu-west-1",
                      quota_limit=D(100), runtime={"quota_used": D("85.10")})
    account("claude-max-oauth", type="oauth", access_token="x", runtime={
        "rate_limited_at": now, "rate_limit_reset_at": now + timedelta(minutes=42)})
    account("claude-broken", type="apikey", status="error", error_message="401 invalid x-api-key")
    groups = []
    for i, (name, platform) in enumerate([("Claude Code", "anthropic"), ("Default", "anthropic"),
                                          ("OpenAI", "openai"), ("Gemini", "gemini"), ("Enterprise", "anthropic")]):
        groups.append(Group.objects.create(name=name, platform=platform, sort_order=i * 10))
    for j, acc in enumerate((pool1, pool2, bedrock)):
        GroupAccount.objects.create(group=groups[0], account=acc, sort_value=j)
    key, _ = ApiKey.objects.create_key(user=user, name="ci-runner", group=groups[0], quota=D(20),
                                       expires_at=now + timedelta(days=12))
    ApiKey.objects.filter(pk=key.pk).update(quota_used=D("17.50"))
    ApiKey.objects.create_key(user=user, name="laptop", group=groups[1])
    bedrock.model_mapping = {"claude-*": "claude-sonnet-4-5", "fast": "claude-haiku-4-5"}
    bedrock.allowed_models = ["claude-sonnet-4-5", "claude-haiku-*"]
    bedrock.save()
    groups[0].model_routing_enabled = True
    groups[0].model_routing = {"claude-opus-*": [pool1.pk, pool2.pk], "claude-haiku-4-5": [bedrock.pk]}
    groups[0].save()
    _usage(user, key, (pool1, 42, 1, "3.20"), (pool2, 17, 0, "1.05"), (bedrock, 8, 2, "0.64"))
    return admin, key, bedrock, groups[0]


def _usage(user, key, *rows):
    """Today's usage of a few accounts: (account, requests, errors of them, total cost)."""
    from billing.models import UsageLog

    for account, requests, errors, cost in rows:
        for i in range(requests):
            UsageLog.objects.create(
                request_id=f"{account.pk}-{i}", user=user, api_key=key, account=account, model="claude-sonnet-4-5",
                status=529 if i < errors else 200, total_cost=D(cost) / requests, actual_cost=D(cost) / requests,
            )


def seed_usage(key):
    """30 days of usage over three pools, a mapped model, cache reads and writes, one failed charge."""
    import random

    from accounts.models import Account
    from apikeys.models import ApiKey
    from billing.models import FailedCharge, ModelPrice, UsageLog
    from groups.models import Group
    from users.models import User

    rng = random.Random(13)
    now = timezone.now()
    team = User.objects.create_user("team@example.com", "screenshots-only")
    other, _raw = ApiKey.objects.create_key(user=team, name="batch-jobs", group=Group.objects.get(name="OpenAI"))
    pools = list(Account.objects.filter(name__in=["claude-pool-1", "claude-pool-2", "bedrock-us-east"]))
    models = [("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", D(3)), ("sonnet", "claude-sonnet-4-5-20250929", D(3)),
              ("claude-opus-4-6", None, D(5)), ("claude-haiku-4-5", None, D(1))]
    logs = []
    for n in range(900):
        model, upstream, price = models[rng.choice([0, 0, 0, 1, 1, 2, 3, 3])]
        inp, out = rng.randint(200, 4000), rng.randint(50, 1500)
        read = rng.choice([0, 0, rng.randint(2000, 40000)])
        w5m, w1h = rng.choice([(0, 0), (rng.randint(500, 3000), 0), (0, rng.randint(500, 3000))])
        input_cost = price * inp / 1_000_000
        read_cost = price / 10 * read / 1_000_000
        total = (input_cost + price * 5 * out / 1_000_000 + read_cost + price * D("1.5") * (w5m + w1h) / 1_000_000)
        which = other if n % 4 == 0 else key
        logs.append(UsageLog(
            request_id=f"shot-{n}", user=which.user, api_key=which, account=rng.choice(pools), group=which.group,
            model=model, upstream_model=upstream, input_tokens=inp, output_tokens=out, cache_read_tokens=read,
            cache_creation_tokens=w5m + w1h, cache_creation_5m_tokens=w5m, cache_creation_1h_tokens=w1h,
            input_cost=input_cost.quantize(D("0.000000001")), cache_read_cost=read_cost.quantize(D("0.000000001")),
            total_cost=total.quantize(D("0.000000001")), actual_cost=total.quantize(D("0.000000001")),
            stream=rng.random() < 0.7, status=200 if rng.random() < 0.97 else 529,
            created_at=now - timedelta(days=rng.triangular(0, 30, 0), minutes=rng.randint(0, 600))))
    UsageLog.objects.bulk_create(logs)
    ModelPrice.objects.create(model="claude-opus-4-6", input=D("4.50"), output=D("22.50"), cache_read=D("0.45"),
                              cache_write_5m=D("5.625"), cache_write_1h=D(9))
    FailedCharge.objects.create(request_id="shot-failed", payload={"model": "claude-opus-4-6"},
                                error="balance row locked too long")


def main():
    from playwright.sync_api import sync_playwright

    call_command("migrate", verbosity=0)
    admin, key, bedrock, group = seed()
    seed_usage(key)
    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    base = f"http://127.0.0.1:{server.port}"
    client = Client()
    client.force_login(admin)
    out = ROOT / "docs"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
            context = browser.new_context(viewport={"width": 1920, "height": 1000}, locale="en-US")
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                                  "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": base}])
            page = context.new_page()
            shots = [  # (file, page, viewport height)
                ("admin-accounts.png", "/admin/accounts/account/", 720),
                ("admin-groups-sort.png", "/admin/groups/group/", 600),
                ("admin-key-form.png", f"/admin/apikeys/apikey/{key.pk}/change/", 1400),
                ("admin-account-form.png", f"/admin/accounts/account/{bedrock.pk}/change/", 3300),
                ("admin-dashboard.png", "/admin/?days=30", 2300),
                ("admin-usage-logs.png", "/admin/billing/usagelog/", 900),
                ("admin-prices.png", "/admin/billing/modelprice/", 1300),
                ("admin-keys-spend.png", "/admin/apikeys/apikey/", 500),
            ]
            only = set(sys.argv[1:])
            for filename, path, height in shots:
                if only and filename not in only:
                    continue
                page.set_viewport_size({"width": 1920, "height": height})
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / filename))
                print("wrote", out / filename)
            page.set_viewport_size({"width": 1600, "height": 1000})
            page.goto(f"{base}/admin/accounts/account/{bedrock.pk}/change/")
            page.wait_for_load_state("networkidle")
            page.click("#id_model_mapping .sr-rows-add")
            page.locator("#id_model_mapping tbody tr").last.locator("input").first.fill("claude-opus-*")
            editor = page.locator("#id_model_mapping").locator("xpath=ancestor::fieldset[1]")
            editor.screenshot(path=str(out / "admin-model-mapping.png"))
            print("wrote", out / "admin-model-mapping.png")
            page.goto(f"{base}/admin/groups/group/{group.pk}/change/")
            page.wait_for_load_state("networkidle")
            page.click("#id_model_routing .sr-rows-add")
            page.locator("#id_model_routing tbody tr").last.locator("input[type=text]").fill("gpt*5")
            page.click("button[name=_continue]")
            page.wait_for_load_state("networkidle")
            page.locator(".field-model_routing").first.screenshot(path=str(out / "admin-group-routing.png"))
            print("wrote", out / "admin-group-routing.png")
            context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "zh-hans", "url": base}])
            page.set_viewport_size({"width": 1920, "height": 720})
            page.goto(f"{base}/admin/accounts/account/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "admin-accounts-zh.png"))
            print("wrote", out / "admin-accounts-zh.png")
            browser.close()
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
