"""Admin test fixtures: a logged-in superuser client, a key factory, and a Playwright browser on
Debian's chromium (skipped when missing, unless CI is set)."""

import os
import shutil
from decimal import Decimal

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SECRETS = {
    "api_key": "sk-ant-api03-SECRET-apikey-0123456789",
    "access_token": "sk-ant-oat01-SECRET-access-0123456789",
    "refresh_token": "sk-ant-ort01-SECRET-refresh-0123456789",
    "aws_secret_access_key": "AWSSECRETabcdefghijklmnopqrstuvwxyz0123",
    "aws_session_token": "AWSSESSIONTOKENzyxwvutsrqponmlkjihgfedcba",
}


@pytest.fixture
def admin_user(db):
    from users.models import User

    return User.objects.create_superuser("root@example.com", "pw-admin-123")


@pytest.fixture
def client_admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def make_key(db, admin_user):
    from apikeys.models import ApiKey

    def make(**fields):
        fields.setdefault("user", admin_user)
        fields.setdefault("name", "k")
        fields.setdefault("quota", Decimal(0))
        key, raw = ApiKey.objects.create_key(**fields)
        return key

    return make


# --- Playwright -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM} (CI needs it: apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


@pytest.fixture
def browser(chromium_path):
    # Playwright's sync API runs an event loop; Django must allow ORM calls from this thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def admin_page(browser, live_server, transactional_db):
    """A page logged into the admin of the live server as a superuser."""
    from django.conf import settings
    from django.test import Client

    from users.models import User

    user = User.objects.create_superuser("ui@example.com", "pw-ui-12345")
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="en-US")
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])
    page = context.new_page()
    page.set_default_timeout(10000)
    page.base = live_server.url
    yield page
    context.close()
