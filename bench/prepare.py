"""A fresh database for one bench run: migrate, then a user, a group, an account on the fake upstream
and an API key, all through the operator's management commands (what a real deployment runs).

The user and the account get concurrency limits far above the bench's, so the slots are taken and
released on every request (as in production) but never refuse one.
"""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Production mode's database (dropped and created again by every run) and Redis db (flushed): two
# production-mode benches at the same time need different ones.
PG_DB = os.environ.get("BENCH_PG_DB", "subrelay_bench")
if not re.fullmatch(r"[a-z_][a-z0-9_]*", PG_DB):
    raise SystemExit(f"BENCH_PG_DB: not a plain database name: {PG_DB!r}")
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = f"redis://127.0.0.1:6379/{int(os.environ.get('BENCH_REDIS_DB', '7'))}"
UPSTREAM_KEY = "sk-ant-bench-upstream"  # what the gateway sends to the fake; direct calls use another
EMAIL = "bench@subrelay.local"
GROUP = "bench"
BIG_LIMIT = 100_000
# Environment that would leak the caller's own mode or secrets into the bench's processes.
DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CREDENTIALS_KEY", "DATA_DIR", "TASKS_IN_PROCESS",
               "DJANGO_SETTINGS_MODULE", "PORT", "HOST", "WEB_CONCURRENCY")


def services_reachable() -> tuple[bool, str]:
    """Whether PostgreSQL and Redis answer on their local ports (why not, otherwise)."""
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_DSN, connect_timeout=2).close()
    except Exception as exc:
        return False, f"PostgreSQL: {exc}"
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return False, f"Redis: {exc}"
    return True, ""


def environment(mode: str, data_dir: Path, fake_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env["BEDROCK_ENDPOINT"] = fake_url
    if mode == "production":
        env["DATABASE_URL"], env["REDIS_URL"] = DATABASE_URL, REDIS_URL
    return env


def manage(*args: str, env: dict, stdin: str = "") -> str:
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          input=stdin)
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:1])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def reset_database(mode: str, data_dir: Path):
    """Drop what a previous run left: the bench database (and Redis db) or the SQLite files."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if mode == "production":
        import psycopg
        import redis

        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
        redis.Redis.from_url(REDIS_URL).flushdb()
    else:
        for path in data_dir.glob("subrelay.sqlite3*"):
            path.unlink()
        shutil.rmtree(data_dir / "static", ignore_errors=True)


# Per provider: the account the gateway relays to (on the fake upstream), in a group of its own.
ACCOUNTS = {
    "anthropic": ("anthropic", ["--type", "apikey"]),
    "bedrock": ("anthropic", ["--type", "bedrock", "--auth-mode", "apikey", "--aws-region", "us-east-1"]),
    "gemini": ("gemini", ["--type", "apikey"]),
    "openai": ("openai", ["--type", "apikey"]),
}


def seed(env: dict, base_url: str) -> dict[str, str]:
    """Create the bench's user and, per provider, a group, an account and a key; returns the keys."""
    manage("create_user", EMAIL, "--password", "bench-password-1", "--balance", "1000000",
           "--concurrency", str(BIG_LIMIT), env=env)
    keys = {}
    for provider, (platform, account_args) in ACCOUNTS.items():
        group = GROUP if provider == "anthropic" else f"{GROUP}-{provider}"
        manage("create_group", group, "--platform", platform, env=env)
        manage("add_account", f"bench-{provider}", "--platform", platform, *account_args, "--base-url", base_url,
               "--api-key", "-", "--group", group, "--concurrency", str(BIG_LIMIT), env=env, stdin=UPSTREAM_KEY)
        keys[provider] = manage("create_api_key", "--user", EMAIL, "--group", group, "--name", provider,
                                env=env).strip()
    return keys


def usage_log_count(mode: str, data_dir: Path) -> int:
    """Charged requests so far, read straight from the database (cheap enough to poll)."""
    if mode == "production":
        import psycopg

        with psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1)) as conn:
            return conn.execute("SELECT COUNT(*) FROM billing_usagelog").fetchone()[0]
    with sqlite3.connect(data_dir / "subrelay.sqlite3", timeout=30) as conn:
        return conn.execute("SELECT COUNT(*) FROM billing_usagelog").fetchone()[0]
