"""The Beta Policy page: which `anthropic-beta` tokens reach which accounts, as rows to drag and edit."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from accounts.models import BetaRule
from core.display import badge

ACTION_COLOURS = {BetaRule.Action.PASS: "ok", BetaRule.Action.FILTER: "warn", BetaRule.Action.BLOCK: "over"}


@admin.register(BetaRule)
class BetaRuleAdmin(ModelAdmin):
    list_display = ("beta_token", "action_badge", "scope", "error_message")
    list_display_links = ("beta_token",)
    ordering = ("position", "id")
    ordering_field = "position"
    hide_ordering_field = True
    list_per_page = 500  # sorting only works within one page
    fields = ("beta_token", "action", "scope", "error_message")
    radio_fields = {"action": admin.HORIZONTAL, "scope": admin.VERTICAL}

    @display(description=_("action"), ordering="action")
    def action_badge(self, obj):
        return badge(obj.get_action_display(), ACTION_COLOURS.get(obj.action, "grey"))
