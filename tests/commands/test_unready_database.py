"""Project commands against a missing or unmigrated DATA_DIR: one line on stderr, exit 1, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    ["serve"], ["create_user", "ops@example.com"], ["ensure_admin"], ["create_group", "g", "--platform", "anthropic"],
    ["add_account", "a", "--platform", "anthropic", "--type", "apikey", "--api-key", "k"],
    ["create_api_key", "--user", "ops@example.com"], ["admin_api_key"],
]


def manage(data_dir: Path, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**env, "DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_data_dir_is_one_line_and_exit_1(tmp_path, command):
    result = manage(tmp_path / "never-created", *command)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "not migrated" in result.stderr and "manage.py migrate" in result.stderr
    assert result.stdout == ""


def test_an_unmigrated_data_dir_then_a_migrated_one(tmp_path):
    result = manage(tmp_path, "create_group", "g", "--platform", "anthropic")
    assert result.returncode == 1 and str(tmp_path) in result.stderr
    assert manage(tmp_path, "migrate", "--noinput", "-v0").returncode == 0
    result = manage(tmp_path, "create_group", "g", "--platform", "anthropic")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()


def test_help_needs_no_database(tmp_path):
    result = manage(tmp_path / "never-created", "serve", "--help")
    assert result.returncode == 0 and "usage:" in result.stdout
