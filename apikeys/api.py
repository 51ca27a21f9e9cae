"""API keys over REST: a user's own keys (/api/v1/keys) and every key for admins (/api/v1/admin/api-keys).

The rules (quota, expiry, status, group binding) live in apikeys.services; these views only read the
request and present the key.
"""

from apikeys import services
from apikeys.models import ApiKey
from core.payload import UNSET, Payload, get_or_404, iso, parse_id
from core.rest import ApiError, ok, page
from groups.models import Group
from users.authentication import AdminView, UserView


def present_key(key: ApiKey, secret: str | None = None) -> dict:
    """A key's JSON. The secret appears only in the create answer (`secret`), never again."""
    data = {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "key_prefix": key.prefix,
        "masked_key": key.masked,
        "group_id": key.group_id,
        "group": {"id": key.group.id, "name": key.group.name, "platform": key.group.platform} if key.group else None,
        "status": key.status,
        "ip_whitelist": key.ip_whitelist,
        "ip_blacklist": key.ip_blacklist,
        "quota": key.quota,
        "quota_used": key.quota_used,
        "expires_at": iso(key.expires_at),
        "last_used_at": iso(key.last_used_at),
        "created_at": iso(key.created_at),
        "updated_at": iso(key.updated_at),
    }
    if secret is not None:
        data["key"] = secret
    return data


def _group(payload: Payload):
    """The `group_id` of the body as a Group; UNSET when absent, None for 0 (no group)."""
    raw = payload.raw("group_id")
    if raw is UNSET:
        return UNSET
    if raw == 0 and not isinstance(raw, bool):
        return None
    return get_or_404(Group.objects.all(), raw, "Group", "GROUP_NOT_FOUND")


def _changes(payload: Payload) -> dict:
    """The fields of an update body, typed; absent ones are left out (PATCH semantics)."""
    changes = {}
    if "name" in payload:
        changes["name"] = services.clean_name(payload.raw("name"))
    group = _group(payload)
    if group is not UNSET:
        changes["group"] = group
    for field in ("ip_whitelist", "ip_blacklist"):
        if field in payload:
            changes[field] = services.clean_ip_list(payload.raw(field), field)
    if "status" in payload:
        changes["status"] = payload.string("status", choices=services.USER_SETTABLE_STATUSES)
    if "quota" in payload:
        changes["quota"] = services.clean_quota(payload.raw("quota"))
    if payload.boolean("reset_quota") is True:
        changes["reset_quota"] = True
    if "expires_at" in payload:
        changes["expires_at"] = services.parse_expires_at(payload.raw("expires_at"))
    return changes


class KeyListView(UserView):
    def get(self, request):
        keys = ApiKey.objects.filter(user=request.user).select_related("group").order_by("-id")
        if status := request.query_params.get("status"):
            keys = keys.filter(status=status)
        return page(request, keys, present_key)

    def post(self, request):
        payload = Payload(request.data)
        group = _group(payload)
        key, secret = services.create_key(
            request.user,
            name=services.clean_name(payload.raw("name")) if "name" in payload else "",
            group=None if group is UNSET else group,
            quota=services.clean_quota(payload.raw("quota")) if "quota" in payload else 0,
            expires_in_days=payload.raw("expires_in_days") if "expires_in_days" in payload else None,
            ip_whitelist=services.clean_ip_list(payload.raw("ip_whitelist"), "ip_whitelist")
            if "ip_whitelist" in payload else (),
            ip_blacklist=services.clean_ip_list(payload.raw("ip_blacklist"), "ip_blacklist")
            if "ip_blacklist" in payload else (),
        )
        return ok(present_key(key, secret))


class KeyDetailView(UserView):
    def _key(self, request, pk) -> ApiKey:
        # Another user's key is "not found", never "forbidden": ids must not leak.
        return get_or_404(ApiKey.objects.filter(user=request.user).select_related("group"), pk, "API key")

    def get(self, request, pk):
        return ok(present_key(self._key(request, pk)))

    def put(self, request, pk):
        key = self._key(request, pk)
        return ok(present_key(services.update_key(key, **_changes(Payload(request.data)))))

    def delete(self, request, pk):
        services.delete_key(self._key(request, pk))
        return ok({"message": "API key deleted successfully"})


class AdminKeyListView(AdminView):
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
        return page(request, keys, lambda key: {**present_key(key), "user_email": key.user.email})


class AdminKeyDetailView(AdminView):
    """Admins may change any key; group binding rules do not restrict them."""

    def _key(self, pk) -> ApiKey:
        return get_or_404(ApiKey.objects.select_related("group", "user"), pk, "API key")

    def get(self, request, pk):
        key = self._key(pk)
        return ok({**present_key(key), "user_email": key.user.email})

    def put(self, request, pk):
        key = services.update_key(self._key(pk), enforce_group_access=False, **_changes(Payload(request.data)))
        return ok({**present_key(key), "user_email": key.user.email})

    def delete(self, request, pk):
        services.delete_key(self._key(pk))
        return ok({"message": "API key deleted successfully"})
