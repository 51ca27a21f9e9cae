"""The end-user portal: server-rendered pages over the same services the REST API uses.

Every page is the signed-in user's own: each query starts from `request.user`, and another user's key
or log id is a 404 (never a 403, so ids do not leak). Staff are sent to the admin, where they work.
"""

import functools

from django.contrib import admin
from django.contrib.auth import login, logout
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Value
from django.db.models.functions import Coalesce, NullIf
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from apikeys import services, windows
from apikeys.models import ApiKey
from billing import export
from billing.models import UsageLog
from portal import snippets as snippet_texts
from portal import stats
from portal.forms import KeyCreateForm, LoginForm

LOG_PAGE_SIZE = 50
CHART_DAYS = (7, 30, 90)
THEME_KEYS = ("colors", "border_radius", "styles", "scripts", "theme", "site_favicons", "site_title", "site_symbol")


def _page(request, template, status=200, **context):
    """Render a portal page with the admin theme's colours, styles and fonts (unfold's own static)."""
    theme = admin.site.each_context(request)
    context = {**{k: theme[k] for k in THEME_KEYS if k in theme}, **context}
    return render(request, template, context, status=status)


def portal_page(view):
    """Signed-in end users only: visitors go to the sign-in page, staff to the admin. Never cached: a page
    may carry a secret shown once."""

    @functools.wraps(view)
    @never_cache
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        if request.user.is_staff:
            return redirect("admin:index")
        return view(request, *args, **kwargs)

    return wrapper


MAX_ID = 2**63 - 1  # the id columns' range: larger numbers name nothing (and would overflow the query)


def _id(value) -> int:
    """An id from the path or the query string; anything that cannot be one is a 404."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise Http404
    return int(text)


def _own_key(request, pk) -> ApiKey:
    return get_object_or_404(ApiKey.objects.filter(user=request.user), pk=_id(pk))


# --- signing in ------------------------------------------------------------------------------------------


@csrf_protect
@never_cache
def login_view(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    if request.user.is_authenticated:
        return redirect("admin:index" if request.user.is_staff else next_url or "portal:keys")
    form = LoginForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.user)
        if form.user.is_staff:
            return redirect("admin:index")
        return redirect(next_url or "portal:keys")
    return _page(request, "portal/login.html", status=400 if form.errors else 200, form=form, next=next_url)


@require_POST
def logout_view(request):
    logout(request)
    return redirect("portal:login")


@portal_page
def home(request):
    return redirect("portal:keys")


# --- keys ----------------------------------------------------------------------------------------------


@portal_page
def keys(request):
    own = list(ApiKey.objects.filter(user=request.user).select_related("group").order_by("-id"))
    now = timezone.now()
    for key in own:  # each spend window as it stands now (an elapsed one shows 0 used)
        key.windows = [(w.name, w.report(now), w.fraction(now)) for w in windows.of(key) if w.limited]
    return _page(request, "portal/keys.html", section="keys", keys=own)


def _secret_page(request, key, secret, created):
    return _page(request, "portal/secret.html", section="keys", key=key, secret=secret, created=created,
                 snippets=snippet_texts.for_key(request, key, secret))


@portal_page
def key_create(request):
    form = KeyCreateForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        made = form.save()
        if made is not None:
            key, secret = made
            return _secret_page(request, key, secret, created=True)
    status = 400 if form.errors else 200
    return _page(request, "portal/key_form.html", status=status, section="keys", form=form)


@portal_page
@require_POST
def key_revoke(request, pk):
    services.delete_key(_own_key(request, pk))
    return redirect("portal:keys")


@portal_page
@require_POST
def key_reset(request, pk):
    key, secret = services.regenerate_key(_own_key(request, pk))
    return _secret_page(request, key, secret, created=False)


# --- balance and usage -----------------------------------------------------------------------------------


@portal_page
def balance(request):
    history = Paginator(request.user.balance_changes.all(), LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return _page(request, "portal/balance.html", section="balance", history=history)


def _filtered_logs(request):
    """The user's logs, narrowed to one of their keys by ?key= (another user's key: 404)."""
    logs = UsageLog.objects.filter(user=request.user).select_related("api_key")
    key = None
    if request.GET.get("key"):
        key = _own_key(request, request.GET["key"])
        logs = logs.filter(api_key=key)
    return logs, key


def _days(request) -> int:
    try:
        days = int(request.GET.get("days", 7))
    except ValueError:
        days = 7
    return days if days in CHART_DAYS else 7


@portal_page
def usage(request):
    logs, key = _filtered_logs(request)
    days = _days(request)
    page = Paginator(logs, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    period = stats.period(request.user, days, key)
    return _page(
        request, "portal/usage.html", section="usage", page=page, key=key, days=days, chart_days=CHART_DAYS,
        keys=ApiKey.objects.filter(user=request.user).order_by("-id"),
        totals=stats.totals(period), by_day=stats.chart_by_day(period), by_model=stats.chart_by_model(period),
    )


@portal_page
def usage_detail(request, pk):
    log = get_object_or_404(UsageLog.objects.filter(user=request.user).select_related("api_key"), pk=_id(pk))
    return _page(request, "portal/usage_detail.html", section="usage", log=log)


# The user's own view of a log: never the upstream model or the account (which upstream served them is the
# operator's); the key by its name, else its prefix.
CSV_COLUMNS = (
    ("created_at", "created_at"), ("request_id", "request_id"), ("api_key", "key_label"), ("model", "model"),
    ("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"), ("cache_read_tokens", "cache_read_tokens"),
    ("cache_creation_5m_tokens", "cache_creation_5m_tokens"), ("cache_creation_1h_tokens", "cache_creation_1h_tokens"),
    ("actual_cost_usd", "actual_cost"), ("stream", "stream"), ("status", "status"), ("duration_ms", "duration_ms"),
    ("first_token_ms", "first_token_ms"), ("endpoint", "endpoint"),
)


@portal_page
def usage_csv(request):
    """The user's logs as CSV (never the upstream model: which upstream served them is the operator's)."""
    logs, key = _filtered_logs(request)
    labelled = logs.annotate(key_label=Coalesce(NullIf("api_key__name", Value("")), "api_key__prefix"))
    response = StreamingHttpResponse(export.usage_csv(labelled, CSV_COLUMNS), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="usage.csv"'
    return response


# --- snippets --------------------------------------------------------------------------------------------


@portal_page
def snippets(request):
    own = ApiKey.objects.filter(user=request.user).select_related("group").order_by("-id")
    key = None
    if request.GET.get("key"):
        key = _own_key(request, request.GET["key"])
    elif own:
        key = own[0]
    return _page(request, "portal/snippets.html", section="snippets", keys=own, key=key,
                 snippets=snippet_texts.for_key(request, key, None) if key else [])
