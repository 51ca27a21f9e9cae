"""add_account takes the OAuth / setup-token limits; a bad value is a one-line error naming the option or
field, and nothing is created."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account

BASE = ["claude", "--platform", "anthropic", "--type", "setup-token", "--access-token", "sk-ant-oat01-cli"]


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("add_account", *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.mark.django_db
def test_add_account_with_limits():
    out = run(*BASE, "--base-rpm", "20", "--rpm-strategy", "sticky_exempt", "--rpm-sticky-buffer", "2",
              "--max-sessions", "3", "--session-idle-timeout", "9", "--window-cost-limit", "12.5",
              "--window-cost-sticky-reserve", "0")
    account = Account.objects.get(pk=int(out))
    assert (account.base_rpm, account.rpm_strategy, account.rpm_sticky_buffer) == (20, "sticky_exempt", 2)
    assert (account.max_sessions, account.session_idle_timeout_minutes) == (3, 9)
    assert (account.window_cost_limit, account.window_cost_sticky_reserve) == (Decimal("12.5"), 0)


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["--base-rpm", "-1"], "base_rpm"),
    (["--max-sessions", "-1"], "max_sessions"),
    (["--rpm-sticky-buffer", "-4"], "rpm_sticky_buffer"),
    (["--session-idle-timeout", "0"], "session_idle_timeout_minutes"),
    (["--window-cost-limit", "-2"], "window_cost_limit"),
    (["--window-cost-limit", "nan"], "--window-cost-limit"),
    (["--window-cost-sticky-reserve", "lots"], "--window-cost-sticky-reserve"),
])
def test_bad_limits_are_one_line_errors(args, message):
    with pytest.raises(CommandError, match=message) as error:
        run(*BASE, *args)
    assert "\n" not in str(error.value)
    assert not Account.objects.exists()
