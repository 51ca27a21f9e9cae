"""The admin sidebar, grouped by task (UNFOLD["SIDEBAR"]["navigation"]): Gateway, Billing, People.

Each link shows only to admins who may view its model; "All applications" (show_all_applications) still
lists every registered page, including ones added later that have no place here yet.
"""

from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


def _can_view(perm: str):
    def check(request) -> bool:
        return request.user.has_perm(perm)

    return check


def _item(title, icon: str, app: str, model: str) -> dict:
    return {
        "title": title, "icon": icon, "link": reverse_lazy(f"admin:{app}_{model}_changelist"),
        "permission": _can_view(f"{app}.view_{model}"),
    }


NAVIGATION = [
    {
        "title": _("Gateway"), "separator": True, "collapsible": False, "items": [
            _item(_("Accounts"), "cloud", "accounts", "account"),
            _item(_("Groups"), "lan", "groups", "group"),
            _item(_("API keys"), "key", "apikeys", "apikey"),
            _item(_("Proxies"), "vpn_lock", "accounts", "proxy"),
            _item(_("Beta policy"), "policy", "accounts", "betarule"),
            _item(_("Group memberships"), "link", "groups", "groupaccount"),
        ],
    },
    {
        "title": _("Billing"), "separator": True, "collapsible": False, "items": [
            _item(_("Usage logs"), "receipt_long", "billing", "usagelog"),
            _item(_("Prices"), "sell", "billing", "modelprice"),
            _item(_("Subscriptions"), "card_membership", "users", "subscription"),
            _item(_("Failed charges"), "report", "billing", "failedcharge"),
            _item(_("Group rates per user"), "percent", "users", "usergrouprate"),
        ],
    },
    {
        "title": _("People"), "separator": True, "collapsible": False, "items": [
            _item(_("Users"), "person", "users", "user"),
            _item(_("Admin API keys"), "admin_panel_settings", "apikeys", "adminapikey"),
        ],
    },
]


def navigation(request) -> list[dict]:
    return NAVIGATION
