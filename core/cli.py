"""What the operator commands share: the REST bodies' validation as one-line errors, lists as a table or
as the REST API's JSON.

A command reads its options into the same request body (serializer) the REST API reads, and saves
through the same service; only the way an error is shown differs (CommandError: one line on stderr,
exit code 1).
"""

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from rest_framework.renderers import JSONRenderer

from core.rest import ApiError, error_message
from core.rules import RuleError


@contextmanager
def refusals(option_names: dict[str, str] | None = None):
    """Turn what the rules refuse (a REST error, a RuleError) into a CommandError; `option_names`
    renames a body field to the option that set it in the message ("quota" → "--quota")."""
    try:
        yield
    except ApiError as exc:
        raise CommandError(_renamed(str(exc.detail), option_names))
    except RuleError as exc:
        raise CommandError(_renamed(exc.message, option_names))


def validated(body, option_names: dict[str, str] | None = None) -> dict:
    """The body's validated data, or a CommandError naming the first field it refuses."""
    with refusals(option_names):
        if not body.is_valid():
            raise CommandError(_renamed(error_message(body.errors), option_names))
    return body.validated_data


def _renamed(message: str, option_names: dict[str, str] | None) -> str:
    parts = message.split("; ")
    for index, part in enumerate(parts):
        field, colon, rest = part.partition(":")
        if colon and field in (option_names or {}):
            parts[index] = option_names[field] + colon + rest
    return "; ".join(parts)


def cell(value) -> str:
    """A table cell: amounts without trailing zeros (5, 2.5, 0.000000001), None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, Decimal | float):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Rows as aligned text columns under their headers; `columns` is [(header, key)]."""
    cells = [[header for header, _ in columns]]
    cells += [[cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells)
    return "\n".join(line.rstrip() for line in lines)


class ListCommand(BaseCommand):
    """`list_<noun>s`: a table of `columns` from the REST API's answer for each object, or that answer as
    JSON (`--json`: exactly what GET /api/v1/admin/<noun>s lists)."""

    columns: list[tuple[str, str]] = []
    present: Callable  # object -> the REST API's dict for it

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the REST API's JSON instead of a table")

    def objects(self, **options) -> Iterable:
        raise NotImplementedError

    def handle(self, *args, **options):
        answers = [self.present(obj) for obj in self.objects(**options)]
        if options["json"]:
            self.stdout.write(JSONRenderer().render(answers).decode())
        elif answers:
            self.stdout.write(table([self.row(answer) for answer in answers], self.columns))
        else:
            self.stderr.write("(none)")

    def row(self, answer: dict) -> dict:
        """The table's cells of one answer (computed columns are added here)."""
        return answer
