"""Groups over REST for admins (/api/v1/admin/groups). Lists follow sort_order, then id (spec S6)."""

from django.db import IntegrityError, transaction
from django.db.models import Count

from accounts.signals import send_scheduling_changed
from apikeys.services import bindable_groups
from core.payload import MAX_DB_ID, UNSET, Payload, get_or_404, iso, parse_id
from core.rest import ApiError, ok, page
from groups.models import Group, Platform
from users.authentication import AdminView, UserView


def existing_group_ids(ids: list[int], field: str) -> list[int]:
    """The ids as given, once every one names a group; else 404 GROUP_NOT_FOUND naming the first unknown."""
    found = set(Group.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := [i for i in ids if i not in found]:
        raise ApiError(404, f"{field}: group {missing[0]} not found", "GROUP_NOT_FOUND")
    return ids

def present_group(group: Group) -> dict:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "platform": group.platform,
        "rate_multiplier": group.rate_multiplier,
        "is_exclusive": group.is_exclusive,
        "status": group.status,
        "subscription_type": group.subscription_type,
        "daily_limit_usd": group.daily_limit_usd,
        "weekly_limit_usd": group.weekly_limit_usd,
        "monthly_limit_usd": group.monthly_limit_usd,
        "default_validity_days": group.default_validity_days,
        "claude_code_only": group.claude_code_only,
        "fallback_group_id": group.fallback_group_id,
        "model_routing_enabled": group.model_routing_enabled,
        "model_routing": group.model_routing,
        "sort_order": group.sort_order,
        "account_count": getattr(group, "account_count", None),
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
    }


# What a user sees of a group: no admin settings (routing, fallback, sort order).
USER_GROUP_FIELDS = (
    "id", "name", "description", "platform", "rate_multiplier", "is_exclusive", "status", "subscription_type",
    "daily_limit_usd", "weekly_limit_usd", "monthly_limit_usd", "claude_code_only",
)


def _groups():
    return Group.objects.annotate(account_count=Count("memberships", distinct=True)).order_by("sort_order", "id")


def _apply(group: Group, payload: Payload, creating: bool) -> None:
    name = payload.string("name", required=creating, blank=False, max_length=100)
    if name is not UNSET:
        if Group.objects.filter(name=name).exclude(pk=group.pk).exists():
            raise ApiError(409, f"name: a group named {name!r} already exists", "GROUP_EXISTS")
        group.name = name
    simple = {
        "description": payload.string("description", strip=False, max_length=10_000),
        "platform": payload.string("platform", choices=Platform.values),
        "status": payload.string("status", choices=Group.Status.values),
        "subscription_type": payload.string("subscription_type", choices=Group.SubscriptionType.values),
        "rate_multiplier": payload.money("rate_multiplier", max_value=1_000_000),
        "is_exclusive": payload.boolean("is_exclusive"),
        "default_validity_days": payload.integer("default_validity_days", min_value=1, max_value=36_500),
        "claude_code_only": payload.boolean("claude_code_only"),
        "model_routing_enabled": payload.boolean("model_routing_enabled"),
        "sort_order": payload.integer("sort_order", min_value=-(2**31)),
    }
    for field, value in simple.items():
        if value is not UNSET:
            setattr(group, field, value)
    for field in ("daily_limit_usd", "weekly_limit_usd", "monthly_limit_usd"):
        if field in payload.data:  # null (or 0) removes the limit
            value = payload.money(field)
            setattr(group, field, None if value is UNSET or value == 0 else value)
    if "fallback_group_id" in payload.data:
        raw = payload.raw("fallback_group_id")
        if raw is UNSET or raw == 0:
            group.fallback_group = None
        else:
            fallback = get_or_404(Group.objects.all(), raw, "Group", "GROUP_NOT_FOUND")
            if fallback.pk == group.pk:
                raise ApiError(400, "fallback_group_id: a group cannot fall back to itself")
            group.fallback_group = fallback
    routing = payload.obj("model_routing")
    if routing is not UNSET:
        for pattern, ids in routing.items():
            if not pattern or "\x00" in pattern or len(pattern) > 200:
                raise ApiError(400, "model_routing: patterns must be 1 to 200 characters without NUL")
            if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_DB_ID for i in ids
            ):
                raise ApiError(400, f"model_routing: {pattern!r} must map to a list of account ids")
        group.model_routing = dict(routing)


def _save(group: Group) -> None:
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:  # a concurrent request took the name
        raise ApiError(409, f"name: a group named {group.name!r} already exists", "GROUP_EXISTS")


class AvailableGroupsView(UserView):
    """GET /api/v1/groups/available: the groups the caller may bind keys to (user-facing JSON)."""

    def get(self, request):
        return ok([
            {k: present_group(g)[k] for k in USER_GROUP_FIELDS} for g in bindable_groups(request.user)
        ])


class GroupListView(AdminView):
    def get(self, request):
        groups = _groups()
        params = request.query_params
        if params.get("platform"):
            groups = groups.filter(platform=params["platform"])
        if params.get("status"):
            groups = groups.filter(status=params["status"])
        if params.get("search"):
            groups = groups.filter(name__icontains=params["search"])
        return page(request, groups, present_group)

    def post(self, request):
        group = Group()
        _apply(group, Payload(request.data), creating=True)
        _save(group)
        return ok(present_group(_groups().get(pk=group.pk)))


class GroupAllView(AdminView):
    """Every active group, in display order (the sort dialog and group pickers use it)."""

    def get(self, request):
        return ok([present_group(g) for g in _groups().filter(status=Group.Status.ACTIVE)])


class GroupDetailView(AdminView):
    def get(self, request, pk):
        return ok(present_group(get_or_404(_groups(), pk, "Group", "GROUP_NOT_FOUND")))

    def put(self, request, pk):
        group = get_or_404(Group.objects.all(), pk, "Group", "GROUP_NOT_FOUND")
        _apply(group, Payload(request.data), creating=False)
        _save(group)
        return ok(present_group(_groups().get(pk=group.pk)))

    def delete(self, request, pk):
        get_or_404(Group.objects.all(), pk, "Group", "GROUP_NOT_FOUND").delete()
        return ok({"message": "Group deleted successfully"})


class GroupSortOrderView(AdminView):
    """PUT {"updates":[{"id":..,"sort_order":..}]} — all or nothing, one UPDATE (spec S6)."""

    def put(self, request):
        payload = Payload(request.data)
        updates = payload.raw("updates")
        if not isinstance(updates, list) or not updates:
            raise ApiError(400, "Invalid request: updates is required and must be a non-empty list")
        orders: dict[int, int] = {}
        for index, item in enumerate(updates):
            if not isinstance(item, dict) or item.get("id") is None:
                raise ApiError(400, f"Invalid request: updates[{index}].id is required")
            raw_id = item["id"]
            if isinstance(raw_id, bool) or not isinstance(raw_id, int):
                raise ApiError(400, f"Invalid request: updates[{index}].id must be an integer")
            if raw_id == 0:
                raise ApiError(400, f"Invalid request: updates[{index}].id is required")
            order = Payload(item).integer("sort_order", min_value=-(2**31))
            if raw_id < 0:
                continue  # the reference ignores non-positive ids
            parse_id(raw_id, "group")
            orders[raw_id] = 0 if order is UNSET else order  # duplicates: the last one wins
        with transaction.atomic():
            if orders and Group.objects.filter(pk__in=orders).count() != len(orders):
                raise ApiError(404, "Group not found", "GROUP_NOT_FOUND")
            if orders:
                Group.objects.set_sort_orders(orders)
                send_scheduling_changed(Group)  # an update() sends no save signal (spec invariant 7)
        return ok({"message": "Sort order updated successfully"})
