"""Groups over REST for admins (/api/v1/admin/groups). Lists follow sort_order, then id (spec S6)."""

from django.db import IntegrityError, transaction
from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from accounts.signals import send_scheduling_changed
from apikeys.services import bindable_groups
from core.payload import get_or_404
from core.rest import ApiError, Message, documented, error_message, ok, page
from groups.models import Group, Platform
from groups.serializers import AvailableGroupOut, GroupBody, GroupOut, SortOrderBody
from users.authentication import AdminView, UserView


def existing_group_ids(ids: list[int], field: str) -> list[int]:
    """The ids as given, once every one names a group; else 404 GROUP_NOT_FOUND naming the first unknown."""
    found = set(Group.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := [i for i in ids if i not in found]:
        raise ApiError(404, f"{field}: group {missing[0]} not found", "GROUP_NOT_FOUND")
    return ids


def _groups():
    return Group.objects.annotate(account_count=Count("memberships", distinct=True)).order_by("sort_order", "id")


def _save(body: GroupBody) -> Response:
    try:
        with transaction.atomic():
            group = body.save()
    except IntegrityError:  # a concurrent request took the name
        name = body.validated_data.get("name")
        raise ApiError(409, f"name: a group named {name!r} already exists", "GROUP_EXISTS")
    return ok(GroupOut(_groups().get(pk=group.pk)).data)


def _group(pk) -> Group:
    return get_or_404(Group.objects.all(), pk, "Group", "GROUP_NOT_FOUND")


FILTERS = [
    OpenApiParameter("platform", str, enum=Platform.values),
    OpenApiParameter("status", str, enum=Group.Status.values),
    OpenApiParameter("search", str, description="part of the name"),
]


class AvailableGroupsView(UserView):
    """GET /api/v1/groups/available: the groups the caller may bind keys to (user-facing JSON)."""

    @documented(response=AvailableGroupOut, many=True)
    def get(self, request):
        return ok(AvailableGroupOut(bindable_groups(request.user), many=True).data)


class GroupListView(AdminView):
    @documented(response=GroupOut, paged=True, parameters=FILTERS)
    def get(self, request):
        groups = _groups()
        params = request.query_params
        if params.get("platform"):
            groups = groups.filter(platform=params["platform"])
        if params.get("status"):
            groups = groups.filter(status=params["status"])
        if params.get("search"):
            groups = groups.filter(name__icontains=params["search"])
        return page(request, groups, GroupOut)

    @documented(request=GroupBody, response=GroupOut, errors=(404, 409))
    def post(self, request):
        body = GroupBody(data=request.data)
        body.is_valid(raise_exception=True)
        return _save(body)


class GroupAllView(AdminView):
    """Every active group, in display order (the sort dialog and group pickers use it)."""

    @documented(response=GroupOut, many=True)
    def get(self, request):
        return ok(GroupOut(_groups().filter(status=Group.Status.ACTIVE), many=True).data)


class GroupDetailView(AdminView):
    @documented(response=GroupOut)
    def get(self, request, pk):
        return ok(GroupOut(get_or_404(_groups(), pk, "Group", "GROUP_NOT_FOUND")).data)

    @documented(request=GroupBody(partial=True), response=GroupOut, errors=(409,))
    def put(self, request, pk):
        body = GroupBody(_group(pk), data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        return _save(body)

    @documented(response=Message)
    def delete(self, request, pk):
        _group(pk).delete()
        return ok({"message": "Group deleted successfully"})


class GroupSortOrderView(AdminView):
    """PUT {"updates":[{"id":..,"sort_order":..}]} — all or nothing, one UPDATE (spec S6)."""

    @documented(request=SortOrderBody, response=Message, errors=(404,))
    def put(self, request):
        body = SortOrderBody(data=request.data)
        if not body.is_valid():
            message = error_message(body.errors)
            raise ApiError(400, message if message.startswith("Invalid request") else f"Invalid request: {message}")
        orders = body.orders()
        with transaction.atomic():
            if orders and Group.objects.filter(pk__in=orders).count() != len(orders):
                raise ApiError(404, "Group not found", "GROUP_NOT_FOUND")
            if orders:
                Group.objects.set_sort_orders(orders)
                send_scheduling_changed(Group)  # an update() sends no save signal (spec invariant 7)
        return ok({"message": "Sort order updated successfully"})
