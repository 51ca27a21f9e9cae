"""The two run modes, decided by the environment alone (checked in fresh interpreters)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'engine': db['ENGINE'], 'options': {k: v for k, v in db.get('OPTIONS', {}).items()}, "
    "'secret': settings.SECRET_KEY, 'cred': settings.CREDENTIALS_KEY, 'cache': settings.CACHES['default']['BACKEND'],"
    "'in_process': settings.TASKS_IN_PROCESS, 'upload': settings.DATA_UPLOAD_MAX_MEMORY_SIZE}, default=str))"
)


def probe(data_dir, **env):
    dropped = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CREDENTIALS_KEY")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings", **env)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_embedded_mode_generates_and_keeps_secrets(tmp_path):
    first = probe(tmp_path)
    assert first["engine"] == "django.db.backends.sqlite3"
    assert first["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in first["options"]["init_command"]
    assert first["cache"].endswith("LocMemCache") and first["in_process"] is True
    assert first["upload"] >= 64 * 1024 * 1024
    assert (tmp_path / "secret_key").read_text().strip() == first["secret"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    second = probe(tmp_path)
    assert (second["secret"], second["cred"]) == (first["secret"], first["cred"])


def test_environment_selects_production_mode(tmp_path):
    cfg = probe(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/whatever",
        REDIS_URL="redis://127.0.0.1:6379/9",
        SECRET_KEY="from-env",
        CREDENTIALS_KEY="x" * 43 + "=",
    )
    assert cfg["engine"] == "django.db.backends.postgresql" and "pool" in cfg["options"]
    assert cfg["cache"].endswith("RedisCache") and cfg["in_process"] is False
    assert cfg["secret"] == "from-env"
    assert not (tmp_path / "secret_key").exists()
