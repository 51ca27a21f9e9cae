"""API keys over REST: a user's own keys (/api/v1/keys) and every key for admins (/api/v1/admin/api-keys).

The rules (quota, expiry, status, group binding) live in apikeys.services; these views read the request
through apikeys.serializers and answer with the key.
"""

from drf_spectacular.utils import OpenApiParameter

from apikeys import services
from apikeys.models import ApiKey
from apikeys.serializers import AdminKeyOut, CreatedKeyOut, KeyCreateBody, KeyOut, KeyUpdateBody
from core.payload import get_or_404, parse_id
from core.rest import ApiError, Message, documented, ok, page
from users.authentication import AdminView, UserView

STATUS = OpenApiParameter("status", str, enum=ApiKey.Status.values)


def _read(body_class, data, instance=None):
    body = body_class(instance, data=data, partial=instance is not None)
    body.is_valid(raise_exception=True)
    return body.changes()


class KeyListView(UserView):
    @documented(response=KeyOut, paged=True, parameters=[STATUS])
    def get(self, request):
        keys = ApiKey.objects.filter(user=request.user).select_related("group").order_by("-id")
        if status := request.query_params.get("status"):
            keys = keys.filter(status=status)
        return page(request, keys, KeyOut)

    @documented(request=KeyCreateBody, response=CreatedKeyOut, errors=(404,))
    def post(self, request):
        key, secret = services.create_key(request.user, **_read(KeyCreateBody, request.data))
        key.secret = secret
        return ok(CreatedKeyOut(key).data)


class KeyDetailView(UserView):
    def _key(self, request, pk) -> ApiKey:
        # Another user's key is "not found", never "forbidden": ids must not leak.
        return get_or_404(ApiKey.objects.filter(user=request.user).select_related("group"), pk, "API key")

    @documented(response=KeyOut)
    def get(self, request, pk):
        return ok(KeyOut(self._key(request, pk)).data)

    @documented(request=KeyUpdateBody(partial=True), response=KeyOut)
    def put(self, request, pk):
        key = self._key(request, pk)
        return ok(KeyOut(services.update_key(key, **_read(KeyUpdateBody, request.data, key))).data)

    @documented(response=Message)
    def delete(self, request, pk):
        services.delete_key(self._key(request, pk))
        return ok({"message": "API key deleted successfully"})


class AdminKeyListView(AdminView):
    @documented(response=AdminKeyOut, paged=True, parameters=[
        OpenApiParameter("user_id", int), OpenApiParameter("group_id", int), STATUS,
    ])
    def get(self, request):
        keys = ApiKey.objects.select_related("group", "user").order_by("-id")
        params = request.query_params
        if params.get("user_id"):
            keys = keys.filter(user_id=parse_id(params["user_id"], "user"))
        if params.get("group_id"):
            keys = keys.filter(group_id=parse_id(params["group_id"], "group"))
        if params.get("status"):
            if params["status"] not in ApiKey.Status.values:
                raise ApiError(400, f"status: must be one of {', '.join(ApiKey.Status.values)}")
            keys = keys.filter(status=params["status"])
        return page(request, keys, AdminKeyOut)


class AdminKeyDetailView(AdminView):
    """Admins may change any key; group binding rules do not restrict them."""

    def _key(self, pk) -> ApiKey:
        return get_or_404(ApiKey.objects.select_related("group", "user"), pk, "API key")

    @documented(response=AdminKeyOut)
    def get(self, request, pk):
        return ok(AdminKeyOut(self._key(pk)).data)

    @documented(request=KeyUpdateBody(partial=True), response=AdminKeyOut)
    def put(self, request, pk):
        key = self._key(pk)
        changes = _read(KeyUpdateBody, request.data, key)
        return ok(AdminKeyOut(services.update_key(key, enforce_group_access=False, **changes)).data)

    @documented(response=Message)
    def delete(self, request, pk):
        services.delete_key(self._key(pk))
        return ok({"message": "API key deleted successfully"})
