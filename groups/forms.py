"""The group form: model routing edited as rows "pattern → accounts" chosen by name among the group's
accounts (core.pattern_fields), stored as the same {"pattern": [account id, ...]} the API and the
scheduler read."""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.pattern_fields import ModelRoutingField
from groups.models import Group


class GroupForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = [  # not accounts (the ordered inline) nor sort_order (dragging in the list)
            f.name for f in Group._meta.concrete_fields if f.editable and not f.primary_key and f.name != "sort_order"
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        members, stale = self._account_choices()
        self.fields["model_routing"] = ModelRoutingField(
            label=_("Model routing"), accounts=members, stale=stale,
            help_text=_("Requests for a model matching a pattern go to these accounts first (exact name, else the "
                        "longest prefix ending with *). Only the group's own accounts can be chosen; save the group "
                        "after adding accounts to route to them."),
        )

    def _account_choices(self):
        group = self.instance
        if not group.pk:
            return [], []
        members = list(group.accounts.order_by("name").values_list("pk", "name"))
        known = {pk for pk, _name in members}
        stale = sorted({
            int(i) for ids in (group.model_routing or {}).values() if isinstance(ids, list)
            for i in ids if isinstance(i, int) and i not in known
        })
        # Ids left over from a removed membership stay visible, so saving flags them instead of dropping them.
        return members, [(pk, gettext("#%(id)d (not in this group)") % {"id": pk}) for pk in stale]
