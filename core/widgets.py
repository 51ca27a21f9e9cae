"""A repeating-row editor for the admin: a small table of inputs with "add row" / "remove" buttons, so an
operator edits a mapping or a list instead of typing JSON.

Each cell is posted as `<name>-<row>-<column>`; rows added in the browser take the next free row number
(core/static/subrelay/rows.js). `RowsField` turns the posted rows into the stored JSON (a dict or a list)
and back, so the database format, the API and the gateway never see the editor.
"""

import re

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _


class Column:
    """One column of the editor: a text input, or a set of checkboxes when `choices` is given."""

    def __init__(self, label, *, placeholder="", choices=None):
        self.label, self.placeholder, self.choices = label, placeholder, choices

    @property
    def multiple(self) -> bool:
        return self.choices is not None

    def render(self, name: str, value) -> str:
        if not self.multiple:
            return format_html(
                '<input type="text" name="{}" value="{}" placeholder="{}" class="sr-rows-input" '
                'aria-label="{}" autocomplete="off">', name, value or "", self.placeholder, self.label,
            )
        chosen = {str(v) for v in (value or ())}
        boxes = format_html_join(
            "", '<label class="sr-rows-check"><input type="checkbox" name="{}" value="{}"{}> {}</label>',
            ((name, key, " checked" if str(key) in chosen else "", text) for key, text in self.choices),
        )
        empty = format_html('<span class="sr-muted">{}</span>', _("nothing to choose yet")) if not self.choices else ""
        return format_html('<div class="sr-rows-checks" role="group" aria-label="{}">{}{}</div>',
                           self.label, boxes, empty)


class RowsWidget(forms.Widget):
    """Renders rows of `columns`; the value is a list of rows, each a list with one value per column."""

    SEPARATOR = "→"

    class Media:
        js = ("subrelay/rows.js",)

    def __init__(self, columns, *, add_label=None, arrow=True, attrs=None):
        super().__init__(attrs)
        self.columns, self.add_label, self.arrow = list(columns), add_label or _("Add row"), arrow

    def _row(self, name: str, index, values) -> str:
        cells = []
        for col, (column, value) in enumerate(zip(self.columns, values, strict=False)):
            if col and self.arrow:
                cells.append(format_html('<td class="sr-rows-arrow">{}</td>', self.SEPARATOR))
            cells.append(format_html("<td>{}</td>", column.render(f"{name}-{index}-{col}", value)))
        remove = format_html('<td><button type="button" class="sr-rows-remove" title="{}" aria-label="{}">'
                             '<span class="material-symbols-outlined">delete</span></button></td>',
                             _("Remove row"), _("Remove row"))
        return format_html('<tr class="sr-rows-row">{}{}</tr>', format_html_join("", "{}", ((c,) for c in cells)),
                           remove)

    def render(self, name, value, attrs=None, renderer=None):
        rows = [list(r) for r in (value or [])]
        blank = [None] * len(self.columns)
        head = []
        for col, column in enumerate(self.columns):
            if col and self.arrow:
                head.append(mark_safe("<th></th>"))
            head.append(format_html("<th>{}</th>", column.label))
        body = format_html_join("", "{}", ((self._row(name, i, r + blank[len(r):]),) for i, r in enumerate(rows)))
        return format_html(
            '<div class="sr-rows" data-name="{name}" data-next="{next}" id="{id}">'
            '<table class="sr-rows-table"><thead><tr>{head}<th></th></tr></thead><tbody>{body}</tbody></table>'
            '<template>{template}</template>'
            '<button type="button" class="sr-rows-add"><span class="material-symbols-outlined">add</span> {add}'
            "</button></div>",
            name=name, next=len(rows), id=(attrs or {}).get("id", f"id_{name}"),
            head=format_html_join("", "{}", ((h,) for h in head)), body=body,
            template=self._row(name, "__row__", blank), add=self.add_label,
        )

    def value_from_datadict(self, data, files, name):
        cell = re.compile(rf"^{re.escape(name)}-(\d+)-(\d+)$")
        rows: dict[int, list] = {}
        for key in data:
            match = cell.match(key)
            if not match or int(match[2]) >= len(self.columns):
                continue
            row, col = int(match[1]), int(match[2])
            column = self.columns[col]
            value = data.getlist(key) if column.multiple and hasattr(data, "getlist") else data.get(key)
            rows.setdefault(row, [[] if c.multiple else "" for c in self.columns])[col] = value
        return [rows[i] for i in sorted(rows)]

    def value_omitted_from_data(self, data, files, name):
        return False  # no rows posted means "no rows", not "field absent"


class RowsField(forms.Field):
    """Posted rows ↔ stored JSON. Subclasses say how a row is checked and how rows become the value."""

    columns: list[Column] = []
    add_label = None
    arrow = True

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", RowsWidget(self.make_columns(), add_label=self.add_label, arrow=self.arrow))
        super().__init__(*args, **kwargs)

    def make_columns(self):
        return self.columns

    def prepare_value(self, value):
        """Stored JSON → rows (initial data); already rows (a re-shown bound form) stay as they are."""
        if isinstance(value, list) and all(isinstance(r, list) for r in value):
            return value
        return self.to_rows(value)

    def to_python(self, value):
        rows = [[c.strip() if isinstance(c, str) else c for c in row] for row in (value or [])]
        return [row for row in rows if any(row)]  # a row left empty is not an error: it is dropped

    def validate(self, value):
        super().validate(value)
        errors = []
        for number, row in enumerate(value, start=1):
            errors.extend(forms.ValidationError(_("Row %(row)d: %(problem)s"), params={"row": number, "problem": p})
                          for p in self.row_problems(row, value[:number - 1]))
        if errors:
            raise forms.ValidationError(errors)

    def clean(self, value):
        rows = super().clean(value)
        return self.to_value(rows)

    def has_changed(self, initial, data):
        return self.to_value(self.to_python(data)) != (initial or self.to_value([]))

    # --- what subclasses define ------------------------------------------------------------------
    def to_rows(self, value) -> list[list]:
        raise NotImplementedError

    def to_value(self, rows):
        raise NotImplementedError

    def row_problems(self, row, earlier_rows) -> list[str]:
        return []
