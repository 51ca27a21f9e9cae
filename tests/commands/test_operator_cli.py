"""The operator CLI after setup: list, edit, adjust and reset. Each command reads its options through the
REST API's body and saves through the same service, so it refuses what the API refuses, with one line on
stderr and exit code 1 (argparse's own errors: 2)."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import Account
from apikeys.models import ApiKey
from billing.models import BalanceChange
from groups.models import Group
from tests.commands.test_operator_commands import manage
from users.models import User

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["list_accounts", "list_keys", "list_users", "edit_account", "set_key", "adjust_balance",
            "reset_account_quota"]

pytestmark = pytest.mark.django_db


def run(name, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(name, *args) -> str:
    with pytest.raises(CommandError) as error:
        run(name, *args)
    message = str(error.value)
    assert "\n" not in message and message
    return message


@pytest.fixture
def world():
    group = Group.objects.create(name="team", platform="anthropic")
    Group.objects.create(name="other", platform="anthropic")
    account = Account.objects.create(name="up-1", platform="anthropic", type="apikey", api_key="sk-up",
                                     priority=50, concurrency=3)
    account.groups.add(group)
    user = User.objects.create_user("dev@example.com", None, balance=Decimal("10"))
    key, secret = ApiKey.objects.create_key(user=user, name="ci", group=group, quota=Decimal("5"))
    return {"group": group, "account": account, "user": user, "key": key, "secret": secret}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name):
    result = subprocess.run(
        [sys.executable, "manage.py", name, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATA_DIR": str(settings.DATA_DIR)},
    )
    assert result.returncode == 0 and "usage:" in result.stdout and len(result.stdout.splitlines()) > 5


# --- lists -----------------------------------------------------------------------------------------------


def test_list_accounts_table_and_json(world):
    out, _ = run("list_accounts")
    header, row = out.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "PLATFORM"]
    assert row.split()[:8] == [str(world["account"].pk), "up-1", "anthropic", "apikey", "active", "50", "3", "team"]
    answer = json.loads(run("list_accounts", "--json")[0])
    assert [(a["id"], a["name"], a["group_ids"]) for a in answer] == [
        (world["account"].pk, "up-1", [world["group"].pk])]
    assert "api_key" not in answer[0] and answer[0]["has_api_key"] is True
    assert run("list_accounts", "--group", "other") == ("", "(none)\n")


def test_list_keys_never_shows_a_secret(world):
    out, _ = run("list_keys")
    assert world["key"].masked in out and "dev@example.com" in out and "0/5" in out
    assert world["secret"] not in out
    answer = json.loads(run("list_keys", "--json", "--user", "DEV@example.com")[0])
    assert [(k["id"], k["quota"], k["user_email"]) for k in answer] == [(world["key"].pk, 5, "dev@example.com")]
    assert world["secret"] not in json.dumps(answer)
    assert json.loads(run("list_keys", "--json", "--status", "inactive")[0]) == []


def test_list_users_table_and_json(world):
    User.objects.create_user("ops@example.com", None, role=User.Role.ADMIN, balance=Decimal("0.000000001"))
    out, _ = run("list_users")
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1].split()[1:5] == ["dev@example.com", "user", "active", "10"]
    assert lines[2].split()[4] == "0.000000001"
    answer = json.loads(run("list_users", "--json", "--role", "admin")[0])
    assert [(u["email"], u["balance"]) for u in answer] == [("ops@example.com", 1e-09)]


def test_a_bad_filter_is_an_argparse_error():
    result = manage("list_accounts", "--status", "sleeping")
    assert result.returncode == 2 and "invalid choice" in result.stderr and result.stdout == ""


# --- edit_account / reset_account_quota ------------------------------------------------------------------


def test_edit_account_changes_only_what_is_given(world):
    account = world["account"]
    _, err = run("edit_account", str(account.pk), "--base-url", "https://proxy.example.com", "--priority", "7",
                 "--concurrency", "0", "--status", "disabled", "--quota-limit", "12.5", "--group", "other")
    account.refresh_from_db()
    assert (account.base_url, account.priority, account.concurrency, account.status, account.quota_limit) == (
        "https://proxy.example.com", 7, 0, "disabled", Decimal("12.5"))
    assert list(account.groups.values_list("name", flat=True)) == ["other"]
    assert account.api_key == "sk-up" and account.name == "up-1" and "up-1" in err


@pytest.mark.parametrize("args, message", [
    (["--base-url", "ftp://x"], "--base-url: must be an http:// or https:// URL"),
    (["--concurrency", "-1"], "--concurrency: must be >= 0"),
    (["--priority", str(2**40)], "--priority: must be <="),
    (["--quota-limit", "lots"], "--quota-limit:"),
    (["--group", "nope"], "--group: no group named 'nope'"),
    ([], "nothing to change"),
])
def test_edit_account_refuses_what_the_api_refuses(world, args, message):
    assert refused("edit_account", str(world["account"].pk), *args).startswith(message)
    account = Account.objects.get(pk=world["account"].pk)
    assert (account.base_url, account.priority, account.concurrency) == ("", 50, 3)


@pytest.mark.parametrize("account_id, message", [("999", "no account with id 999"), ("x", "Invalid account ID")])
def test_unknown_accounts(world, account_id, message):
    assert refused("edit_account", account_id, "--priority", "1") == message
    assert refused("reset_account_quota", account_id) == message


def test_reset_account_quota_zeroes_every_window(world):
    now = timezone.now()
    Account.objects.filter(pk=world["account"].pk).update(
        quota_limit=Decimal(10), quota_used=Decimal(4), quota_daily_used=Decimal(2), quota_weekly_used=Decimal(3),
        quota_daily_start=now - timedelta(hours=3))
    run("reset_account_quota", str(world["account"].pk))
    account = Account.objects.get(pk=world["account"].pk)
    assert (account.quota_used, account.quota_daily_used, account.quota_weekly_used) == (0, 0, 0)
    assert account.quota_limit == Decimal(10)


# --- set_key ---------------------------------------------------------------------------------------------


def test_set_key_by_prefix(world):
    key = world["key"]
    ApiKey.objects.filter(pk=key.pk).update(quota_used=Decimal(5), status=ApiKey.Status.QUOTA_EXHAUSTED)
    run("set_key", key.prefix, "--reset-quota", "--quota", "8", "--expires-in-days", "3")
    key.refresh_from_db()
    assert (key.status, key.quota, key.quota_used) == ("active", Decimal(8), 0)
    assert timedelta(days=2, hours=23) < key.expires_at - timezone.now() <= timedelta(days=3)
    run("set_key", str(key.pk), "--no-expiry", "--status", "inactive")
    key.refresh_from_db()
    assert (key.status, key.expires_at) == ("inactive", None)


@pytest.mark.parametrize("args, message", [
    (["--status", "quota_exhausted"], "--status: must be one of active, inactive"),
    (["--quota", "-1"], "--quota: must be >= 0"),
    (["--quota", "NaN"], "--quota:"),
    (["--expires-in-days", "0"], "--expires-in-days: must be > 0"),
    ([], "nothing to change"),
])
def test_set_key_refuses_what_the_api_refuses(world, args, message):
    assert refused("set_key", str(world["key"].pk), *args).startswith(message)
    key = ApiKey.objects.get(pk=world["key"].pk)
    assert (key.status, key.quota, key.expires_at) == ("active", Decimal(5), None)


def test_set_key_needs_one_key(world):
    assert refused("set_key", "999", "--status", "inactive") == "no API key with id 999"
    assert refused("set_key", "zz-none", "--status", "inactive") == "no API key with prefix 'zz-none'"
    ApiKey.objects.create_key(user=world["user"], name="second")
    common = os.path.commonprefix(list(ApiKey.objects.values_list("prefix", flat=True)))
    assert "more than one API key" in refused("set_key", common, "--status", "inactive")


def test_expiry_options_exclude_each_other(world):
    result = manage("set_key", "1", "--no-expiry", "--expires-in-days", "3")
    assert result.returncode == 2 and "not allowed with" in result.stderr


# --- adjust_balance --------------------------------------------------------------------------------------


def test_adjust_balance_is_recorded_with_its_note(world):
    out, err = run("adjust_balance", "Dev@Example.com", "-2.5", "--note", "refund of order 12")
    assert out == "7.5\n" and "-2.5 USD, now 7.5 USD" in err
    change = BalanceChange.objects.get()
    assert (change.amount, change.balance_after, change.kind, change.note, change.actor) == (
        Decimal("-2.5"), Decimal("7.5"), "cli", "refund of order 12", None)
    run("adjust_balance", "dev@example.com", "0.000000001", "--note", "rounding")
    assert User.objects.get(pk=world["user"].pk).balance == Decimal("7.500000001")


@pytest.mark.parametrize("args, message", [
    (["nobody@example.com", "1", "--note", "x"], "no user with email nobody@example.com"),
    (["dev@example.com", "ten", "--note", "x"], "not an amount: 'ten'"),
    (["dev@example.com", "-10.01", "--note", "x"], "the result would be negative"),
    (["dev@example.com", "0", "--note", "x"], "an adjustment of 0 changes nothing"),
    (["dev@example.com", "1", "--note", "  "], "--note: must not be empty"),
])
def test_adjust_balance_refusals_change_nothing(world, args, message):
    assert refused("adjust_balance", *args).startswith(message)
    assert User.objects.get(pk=world["user"].pk).balance == Decimal(10) and not BalanceChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_exit_codes_and_streams_in_a_child_process(world):
    done = manage("adjust_balance", "dev@example.com", "5", "--note", "top-up")
    assert (done.returncode, done.stdout.strip()) == (0, "15"), done.stderr
    failed = manage("adjust_balance", "dev@example.com", "-100", "--note", "too much")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.strip().splitlines() == [
        "CommandError: the result would be negative (the balance is 15)"]
    missing = manage("adjust_balance", "dev@example.com", "5")
    assert missing.returncode == 2 and "--note" in missing.stderr
