"""Everything subrelay creates in DATA_DIR (database, WAL, secrets, static files) is 0600 / 0700."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(data_dir: Path, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**env, "DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(0o022),  # what a login shell usually has
    )
    assert result.returncode == 0, result.stderr
    return result


def modes(root: Path) -> dict[str, str]:
    found = {"DATA_DIR": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_a_new_data_dir_is_private(tmp_path):
    data_dir = tmp_path / "new" / "data"
    manage(data_dir, "migrate", "--noinput", "-v0")
    manage(data_dir, "collectstatic", "--noinput", "-v0")
    found = modes(data_dir)
    assert {"subrelay.sqlite3", "secret_key", "credentials_key", "static"} <= set(found)
    expected = {name: oct(0o700) if (data_dir / name if name != "DATA_DIR" else data_dir).is_dir() else oct(0o600)
                for name in found}
    assert found == expected


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    manage(tmp_path, "migrate", "--noinput", "-v0")
    (tmp_path / "subrelay.sqlite3").chmod(0o644)
    manage(tmp_path, "check")
    assert stat.S_IMODE((tmp_path / "subrelay.sqlite3").stat().st_mode) == 0o600
