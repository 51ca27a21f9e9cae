"""Is the database ready for subrelay's own commands? One line saying why not, instead of a traceback.

`manage.py` asks before it runs a command of one of the project's apps (serve, create_user, ...);
Django's own commands (migrate first of all) run as they are.
"""

import sys
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections


def problem(using: str = DEFAULT_DB_ALIAS) -> str | None:
    """Why the database cannot serve subrelay (unreachable, not migrated), or None when it can."""
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[using]
    where = _describe(connection)
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        first_line = (str(exc).strip().splitlines() or [repr(exc)])[0]
        return f"cannot use the database {where}: {first_line}"
    finally:
        connection.close()
    if pending:
        return (
            f"the database {where} is not migrated ({len(pending)} migrations pending): "
            "run `manage.py migrate` first"
        )
    return None


def _describe(connection) -> str:
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"{name} (DATA_DIR {settings.DATA_DIR})"
    return repr(str(name))  # the database name only: the URL may hold a password


def check_before_command(argv: list[str]) -> None:
    """Exit 1 with one line on stderr when a project command would meet an unready database."""
    from django.apps import apps
    from django.core.management import get_commands

    if len(argv) < 2 or {"-h", "--help", "--version"} & set(argv[2:]):
        return
    app_name = get_commands().get(argv[1])
    if app_name is None or app_name.startswith("django."):
        return
    app_path = next((Path(c.path) for c in apps.get_app_configs() if c.name == app_name), None)
    if app_path is None or Path(settings.BASE_DIR) not in app_path.parents:
        return  # a third-party command (drf-spectacular's schema, ...)
    if (reason := problem()) is not None:
        sys.stderr.write(f"{argv[1]}: {reason}\n")
        raise SystemExit(1)
