"""Numeric ranges live on the model fields (core.columns): the REST API, the admin forms, the commands and
full_clean refuse what a column cannot hold, the same way on SQLite and PostgreSQL."""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.core.validators import MaxValueValidator, MinValueValidator

from core.columns import INTEGER_RANGES, column_range, limits

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = ("users", "accounts", "groups", "apikeys")


def numeric_fields():
    for app in PROJECT_APPS:
        for model in apps.get_app_config(app).get_models():
            for field in model._meta.concrete_fields:
                if column_range(field) is not None:
                    yield model, field


def test_every_numeric_field_has_one_range_inside_its_column():
    for model, field in numeric_fields():
        mins = [v for v in field.validators if isinstance(v, MinValueValidator)]
        maxes = [v for v in field.validators if isinstance(v, MaxValueValidator)]
        assert len(mins) == len(maxes) == 1, (model, field.name, field.validators)
        low, high = limits(field)
        column_low, column_high = column_range(field)
        assert column_low <= low <= high <= column_high, (model, field.name)


def test_the_ranges_are_postgresqls_on_both_engines():
    from groups.models import Group

    assert limits(Group._meta.get_field("sort_order")) == INTEGER_RANGES["IntegerField"] == (-(2**31), 2**31 - 1)
    assert limits(Group._meta.get_field("rate_multiplier")) == (Decimal(0), Decimal("999999.9999"))


@pytest.mark.parametrize("field, value", [
    ("rate_multiplier", Decimal(1_000_000)), ("rate_multiplier", Decimal(-1)), ("sort_order", 2**31),
    ("default_validity_days", 0), ("daily_limit_usd", Decimal(-1)),
])
def test_full_clean_refuses(make_group, field, value):
    group = make_group("g")
    setattr(group, field, value)
    with pytest.raises(ValidationError) as error:
        group.full_clean()
    assert field in error.value.message_dict


def test_the_commands_refuse():
    with pytest.raises(CommandError, match="--rate-multiplier: Ensure this value is less than or equal to 999999"):
        call_command("create_group", "g", "--platform", "anthropic", "--rate-multiplier", "1000000")
    with pytest.raises(CommandError, match="priority"):
        call_command("add_account", "a", "--platform", "anthropic", "--type", "apikey", "--api-key", "k",
                     "--priority", str(2**31))
    with pytest.raises(CommandError, match="concurrency"):
        call_command("create_user", "u@example.com", "--concurrency", str(2**31))


def test_pool_mode_retry_count_is_clamped_by_the_model(make_account):
    account = make_account(pool_mode_retry_count=99)
    account.refresh_from_db()
    assert account.pool_mode_retry_count == 10
    account.pool_mode_retry_count = 5000
    account.full_clean()
    assert account.pool_mode_retry_count == 10


def test_migrations_match_the_models():
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
