"""The account list's "limits now" column: where an OAuth / setup-token account stands against its
limits (accounts/limits.py), one badge per limit, coloured by zone (green: takes any request; amber:
sticky sessions only; red: takes none)."""

from django.utils.html import format_html, format_html_join
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _

from accounts import limits
from core.display import badge, money, none_label

ZONE_CSS = {limits.SCHEDULABLE: "ok", limits.STICKY_ONLY: "warn", limits.NOT_SCHEDULABLE: "over"}


def zone_title(zone: str) -> str:
    return {
        limits.SCHEDULABLE: _("Schedulable"),
        limits.STICKY_ONLY: _("Sticky sessions only"),
        limits.NOT_SCHEDULABLE: _("Not schedulable"),
    }[zone]


def limits_badges(account) -> str:
    has_any = account.base_rpm > 0 or account.max_sessions > 0 or limits.has_window_cost(account)
    if not limits.applies(account) or not has_any:
        return none_label()
    now = limits.now([account])[account.pk]
    pieces = []
    if account.base_rpm > 0:
        pieces.append(badge(_("RPM %(now)s/%(base)s") % {"now": now["rpm"], "base": account.base_rpm},
                            ZONE_CSS[now["rpm_zone"]], zone_title(now["rpm_zone"])))
    if account.max_sessions > 0:
        full = now["sessions"] >= account.max_sessions
        pieces.append(badge(_("sessions %(now)s/%(max)s") % {"now": now["sessions"], "max": account.max_sessions},
                            "warn" if full else "ok",
                            _("New sessions go elsewhere") if full else _("Takes new sessions")))
    if limits.has_window_cost(account):
        title = zone_title(now["window_zone"])
        if now["window_resets"]:
            title = f"{title} · " + _("resets in %(time)s") % {"time": timeuntil(now["window_resets"])}
        pieces.append(badge(f"5h {money(now['window_cost'])}/{money(account.window_cost_limit)}",
                            ZONE_CSS[now["window_zone"]], title))
    return format_html('<div class="sr-badges">{}</div>', format_html_join("", "{}", ((p,) for p in pieces)))
