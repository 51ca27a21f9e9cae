"""`create_api_key` takes the key limits; a bad one is a one-line error naming the option, exit code 1."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError

from apikeys.models import ApiKey, hash_key
from tests.commands.test_operator_commands import _url, run
from users.models import User

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_create_api_key_with_limits():
    User.objects.create_user("dev@example.com", "pw-12345678")
    out, _ = run("create_api_key", "--user", "dev@example.com", "--rate-limit-5h", "1.5", "--rate-limit-1d", "3",
                 "--rate-limit-7d", "10", "--concurrency", "2", "--rpm-limit", "60")
    key = ApiKey.objects.get(key_hash=hash_key(out.strip()))
    assert (key.rate_limit_5h, key.rate_limit_1d, key.rate_limit_7d) == (Decimal("1.5"), 3, 10)
    assert (key.concurrency, key.rpm_limit) == (2, 60)


@pytest.mark.django_db
@pytest.mark.parametrize(("option", "value", "message"), [
    ("--rate-limit-5h", "-1", "--rate-limit-5h: must be >= 0"),
    ("--rate-limit-1d", "NaN", "--rate-limit-1d: must be a finite number"),
    ("--rate-limit-7d", "2000000000", "--rate-limit-7d: must be <= 1000000000"),
    ("--concurrency", "1.5", "--concurrency: must be an integer"),
    ("--rpm-limit", "-3", "--rpm-limit: must be >= 0"),
])
def test_bad_limits_are_refused_naming_the_option(option, value, message):
    User.objects.create_user("dev@example.com", "pw-12345678")
    with pytest.raises(CommandError) as caught:
        run("create_api_key", "--user", "dev@example.com", option, value)
    assert str(caught.value).startswith(message)
    assert not ApiKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bad_limit_is_one_line_and_exit_code_1():
    User.objects.create_user("dev@example.com", "pw-12345678")
    env = {**os.environ, "DATABASE_URL": _url(), "DATA_DIR": str(settings.DATA_DIR)}
    done = subprocess.run([sys.executable, "manage.py", "create_api_key", "--user", "dev@example.com",
                           "--concurrency", "-1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["CommandError: --concurrency: must be >= 0"]
