"""Admin form fields for model patterns, edited as rows (core.widgets) and stored as the same JSON as before:

- ModelMappingField: rows "requested → upstream" ↔ {"requested": "upstream"} (account model mapping);
- ModelListField: one model per row ↔ ["model", ...] (account allowed models);
- ModelRoutingField: rows "pattern → accounts" ↔ {"pattern": [account id, ...]} (group model routing).

Every pattern is checked by core.patterns.pattern_error, the rule the gateway matches with.
"""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import patterns
from core.widgets import Column, RowsField


def _duplicate(pattern, earlier_rows) -> str | None:
    if any(row[0] == pattern for row in earlier_rows):
        return gettext("“%(pattern)s” appears in an earlier row.") % {"pattern": pattern}
    return None


def _pattern_problems(pattern, earlier_rows) -> list[str]:
    problem = patterns.pattern_error(pattern) or _duplicate(pattern, earlier_rows)
    return [problem] if problem else []


class ModelMappingField(RowsField):
    add_label = _("Add mapping")
    columns = [
        Column(_("Requested model (may end with *)"), placeholder="claude-sonnet-4-5 / claude-*"),
        Column(_("Upstream model (empty = unchanged)"), placeholder="claude-sonnet-4-5-20250929"),
    ]

    def to_rows(self, value):
        return [[key, target] for key, target in (value or {}).items()] if isinstance(value, dict) else []

    def to_value(self, rows):
        return {requested: target for requested, target in rows}

    def row_problems(self, row, earlier_rows):
        requested, target = row
        problems = _pattern_problems(requested, earlier_rows)
        if target and (any(ch.isspace() for ch in target) or len(target) > patterns.MAX_LENGTH):
            problems.append(gettext("The upstream model “%(model)s” is not a model name.") % {"model": target})
        return problems


class ModelListField(RowsField):
    add_label = _("Add model")
    arrow = False
    columns = [Column(_("Model (may end with *)"), placeholder="claude-sonnet-4-5")]

    def to_rows(self, value):
        return [[str(m)] for m in value] if isinstance(value, list) else []

    def to_value(self, rows):
        return [row[0] for row in rows]

    def row_problems(self, row, earlier_rows):
        return _pattern_problems(row[0], earlier_rows)


class ModelRoutingField(RowsField):
    """`accounts` are the (id, name) pairs an operator may pick (the group's own accounts); `stale` are
    (id, label) pairs still stored but no longer pickable, shown so that saving flags them."""

    add_label = _("Add route")

    def __init__(self, *args, accounts=(), stale=(), **kwargs):
        self.accounts, self.stale = list(accounts), list(stale)
        super().__init__(*args, **kwargs)

    def make_columns(self):
        return [
            Column(_("Model pattern (may end with *)"), placeholder="claude-opus-*"),
            Column(_("Accounts tried first"), choices=self.accounts + self.stale),
        ]

    def to_rows(self, value):
        if not isinstance(value, dict):
            return []
        return [[pattern, [str(i) for i in ids] if isinstance(ids, list) else []] for pattern, ids in value.items()]

    def to_value(self, rows):
        return {pattern: [int(i) for i in ids] for pattern, ids in rows}

    def row_problems(self, row, earlier_rows):
        pattern, ids = row
        problems = _pattern_problems(pattern, earlier_rows)
        known = {str(pk) for pk, _name in self.accounts}
        unknown = [i for i in ids if str(i) not in known]
        if unknown:
            problems.append(gettext("Unknown account (not in this group): %(ids)s.") % {"ids": ", ".join(unknown)})
        elif not ids:
            problems.append(gettext("Choose at least one account for “%(pattern)s”.") % {"pattern": pattern})
        return problems
