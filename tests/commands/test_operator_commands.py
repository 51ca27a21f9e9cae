"""Operator commands end to end: what they create, what they print (the secret as the only stdout line),
their errors (stderr, non-zero exit), and that their objects are visible through the REST API."""

import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from accounts.models import Account
from apikeys.models import AdminApiKey, ApiKey, hash_key
from groups.models import Group
from users.models import User

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["create_user", "create_group", "add_account", "create_api_key", "admin_api_key"]


def run(name, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def api_get(path, admin_secret):
    response = Client().get(path, headers={"x-api-key": admin_secret})
    assert response.status_code == 200, response.content
    return response.json()["data"]


def manage(*args, **env) -> subprocess.CompletedProcess:
    """`manage.py` in a child process on the test database."""
    child_env = {**os.environ, "DATABASE_URL": _url(), "DATA_DIR": str(settings.DATA_DIR), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name):
    result = subprocess.run(
        [sys.executable, "manage.py", name, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATA_DIR": str(settings.DATA_DIR)},
    )
    assert result.returncode == 0 and "usage:" in result.stdout


@pytest.mark.django_db
def test_create_user_prints_only_the_generated_password():
    out, err = run("create_user", "Ops@Example.com", "--balance", "12.5", "--concurrency", "2")
    password = out.strip()
    assert out.count("\n") == 1 and len(password) >= 12
    user = User.objects.get(email="ops@example.com")
    assert user.check_password(password) and user.balance == Decimal("12.5") and user.concurrency == 2
    assert list(user.balance_changes.values_list("amount", "kind", "actor")) == [(Decimal("12.5"), "cli", None)]
    assert not user.is_admin and "ops@example.com" in err


@pytest.mark.django_db
def test_create_admin_with_password_prints_nothing():
    out, _ = run("create_user", "root@example.com", "--admin", "--password", "a-long-password")
    assert out == ""
    user = User.objects.get(email="root@example.com")
    assert user.is_admin and user.is_staff and user.check_password("a-long-password")


@pytest.mark.django_db
def test_add_an_openai_api_key_account():
    from gateway import upstreams
    from gateway.upstreams.openai import OpenAIApiKey

    Group.objects.create(name="gpt", platform="openai")
    out, err = run("add_account", "openai-1", "--platform", "openai", "--type", "apikey", "--base-url",
                   "https://api.openai.com/v1", "--api-key", "sk-proj-upstream", "--group", "gpt", "--pool-mode")
    account = Account.objects.get(pk=int(out))
    assert (account.platform, account.type, account.base_url, account.api_key) == (
        "openai", "apikey", "https://api.openai.com/v1", "sk-proj-upstream")
    assert account.pool_mode and "Added apikey account openai-1" in err
    assert isinstance(upstreams.for_account(account), OpenAIApiKey)


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["not-an-email"], "email"),
    (["a@b.co", "--balance", "lots"], "--balance"),
    (["a@b.co", "--balance", "-1"], "--balance"),
    (["a@b.co", "--password", "short"], "--password"),
])
def test_create_user_errors(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_user", *args)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_create_group_and_duplicate():
    out, _ = run("create_group", "pro", "--platform", "openai", "--rate-multiplier", "1.5", "--description", "d")
    group = Group.objects.get(pk=int(out))
    assert (group.name, group.platform, group.description) == ("pro", "openai", "d")
    assert group.rate_multiplier == Decimal("1.5")
    with pytest.raises(CommandError, match="already exists"):
        run("create_group", "pro", "--platform", "openai")


@pytest.mark.django_db
def test_add_account_prints_its_id_and_joins_groups():
    Group.objects.create(name="g1")
    Group.objects.create(name="g2")
    out, _ = run(
        "add_account", "upstream", "--platform", "anthropic", "--type", "apikey", "--api-key", "sk-up-secret",
        "--base-url", "https://relay.example.com", "--group", "g1", "--group", "g2", "--priority", "7",
        "--concurrency", "9", "--daily-limit", "10",
    )
    account = Account.objects.get(pk=int(out))
    assert (account.api_key, account.priority, account.concurrency) == ("sk-up-secret", 7, 9)
    assert account.quota_daily_limit == 10
    assert sorted(account.groups.values_list("name", flat=True)) == ["g1", "g2"]


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["--type", "apikey"], "api_key"),
    (["--type", "bedrock", "--auth-mode", "apikey"], "api_key"),
    (["--type", "bedrock", "--aws-access-key-id", "AKIA"], "aws_secret_access_key"),
    (["--type", "oauth"], "access_token"),
    (["--type", "apikey", "--api-key", "k", "--group", "missing"], "no group"),
    (["--type", "apikey", "--api-key", "k", "--quota-limit", "-5"], "quota_limit"),
    (["--type", "apikey", "--api-key", "k", "--base-url", "relay.example.com"], "--base-url"),
])
def test_add_account_errors(args, message):
    with pytest.raises(CommandError, match=message):
        run("add_account", "x", "--platform", "anthropic", *args)
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_create_api_key():
    user = User.objects.create_user("dev@example.com", "pw-12345678")
    Group.objects.create(name="team", is_exclusive=True)  # operators may bind any group
    out, _ = run("create_api_key", "--user", "dev@example.com", "--group", "team", "--name", "ci",
                 "--quota", "5", "--expires-in-days", "30")
    secret = out.strip()
    assert out.count("\n") == 1
    key = ApiKey.objects.get(key_hash=hash_key(secret))
    assert (key.user, key.group.name, key.name, key.quota) == (user, "team", "ci", 5)
    assert key.expires_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["--user", "nobody@example.com"], "no user"),
    (["--user", "dev@example.com", "--group", "nope"], "no group"),
    (["--user", "dev@example.com", "--quota", "-1"], "quota"),
    (["--user", "dev@example.com", "--quota", "NaN"], "quota"),
    (["--user", "dev@example.com", "--expires-in-days", "0"], "--expires-in-days"),
])
def test_create_api_key_errors(args, message):
    User.objects.create_user("dev@example.com", "pw-12345678")
    with pytest.raises(CommandError, match=message):
        run("create_api_key", *args)
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_admin_api_key_is_stable_until_rotated():
    first, _ = run("admin_api_key")
    again, _ = run("admin_api_key")
    rotated, _ = run("admin_api_key", "--rotate")
    assert first == again and rotated != first
    assert AdminApiKey.matches(rotated.strip()) and not AdminApiKey.matches(first.strip())


@pytest.mark.django_db(transaction=True)
def test_subprocess_commands_and_the_rest_api():
    """The operator's script: admin key, user, group, account, key — then the API shows them all."""
    admin = manage("admin_api_key")
    assert admin.returncode == 0, admin.stderr
    admin_secret = admin.stdout.strip()
    assert admin.stdout == admin_secret + "\n"

    assert manage("create_user", "dev@example.com", "--balance", "3").returncode == 0
    assert manage("create_group", "team", "--platform", "anthropic").returncode == 0
    account = manage("add_account", "up-1", "--platform", "anthropic", "--type", "apikey", "--api-key", "-",
                     "--group", "team")
    assert account.returncode == 1 and "api_key" in account.stderr and account.stdout == ""
    account = subprocess.run(
        [sys.executable, "manage.py", "add_account", "up-1", "--platform", "anthropic", "--type", "apikey",
         "--api-key", "-", "--group", "team"],
        cwd=ROOT, input="sk-from-stdin\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": _url(), "DATA_DIR": str(settings.DATA_DIR)},
    )
    assert account.returncode == 0, account.stderr
    account_id = int(account.stdout)

    created = manage("create_api_key", "--user", "dev@example.com", "--group", "team", "--quota", "5")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(settings.API_KEY_PREFIX)
    secret = lines[0]

    failed = manage("create_api_key", "--user", "nobody@example.com")
    assert failed.returncode != 0 and failed.stdout == "" and "no user with email" in failed.stderr

    keys = api_get("/api/v1/admin/api-keys", admin_secret)["items"]
    assert len(keys) == 1 and keys[0]["user_email"] == "dev@example.com" and keys[0]["quota"] == 5
    assert keys[0]["key_prefix"] == secret[:10] and keys[0]["group"]["name"] == "team"
    assert secret not in repr(keys)
    accounts = api_get("/api/v1/admin/accounts", admin_secret)["items"]
    assert [a["id"] for a in accounts] == [account_id] and accounts[0]["groups"][0]["name"] == "team"
    assert Account.objects.get(pk=account_id).api_key == "sk-from-stdin"
    users = api_get("/api/v1/admin/users", admin_secret)["items"]
    assert [(u["email"], u["balance"]) for u in users] == [("dev@example.com", 3)]


def _url():
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db
def test_add_account_for_gemini_takes_an_api_key_and_nothing_else():
    out, _ = run("add_account", "studio", "--platform", "gemini", "--type", "apikey", "--api-key", "AIza-secret")
    account = Account.objects.get(pk=int(out))
    assert (account.platform, account.type, account.api_key) == ("gemini", "apikey", "AIza-secret")
    from gateway.upstreams import for_account

    assert for_account(account).name == "gemini-apikey"
    with pytest.raises(CommandError, match="gemini accounts are apikey accounts"):
        run("add_account", "cli", "--platform", "gemini", "--type", "oauth", "--access-token", "ya29.x")
