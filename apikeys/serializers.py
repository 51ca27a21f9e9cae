"""API keys over REST: request bodies and answers. The rules stay in apikeys.services; these read the
request into the typed values the services take (absent = unchanged on an update)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apikeys import services, windows
from apikeys.models import ApiKey
from core.rest import ApiError
from core.serializers import Answer, Bool, Choice, Id, ModelBody, Money, StrictInteger
from groups.models import Group


class KeyGroupOut(Answer):
    class Meta:
        model = Group
        fields = ["id", "name", "platform"]
        read_only_fields = fields


def _window(key, name: str) -> dict:
    """A spend window as it stands now: an elapsed one shows 0 used and no start (spec §2.5)."""
    return next(w for w in windows.of(key) if w.name == name).report(timezone.now())


class WindowUsed(Money):
    """A window's usage now (read-only, from the whole key)."""

    def __init__(self, name: str):
        self.window = name
        super().__init__(source="*", read_only=True)

    def to_representation(self, key):
        return super().to_representation(_window(key, self.window)["used"])


class WindowTime(serializers.DateTimeField):
    """When a window started or resets; null while no window runs."""

    def __init__(self, name: str, part: str):
        self.window, self.part = name, part
        super().__init__(source="*", read_only=True, allow_null=True)

    def to_representation(self, key):
        value = _window(key, self.window)[self.part]
        return None if value is None else super().to_representation(value)


class KeyOut(Answer):
    key_prefix = serializers.CharField(source="prefix", read_only=True)
    masked_key = serializers.CharField(source="masked", read_only=True)
    group_id = serializers.IntegerField(read_only=True, allow_null=True)
    group = KeyGroupOut(read_only=True, allow_null=True)
    ip_whitelist = serializers.ListField(child=serializers.CharField(), read_only=True)
    ip_blacklist = serializers.ListField(child=serializers.CharField(), read_only=True)

    usage_5h = WindowUsed("5h")
    window_5h_start = WindowTime("5h", "window_start")
    window_5h_resets_at = WindowTime("5h", "resets_at")
    usage_1d = WindowUsed("1d")
    window_1d_start = WindowTime("1d", "window_start")
    window_1d_resets_at = WindowTime("1d", "resets_at")
    usage_7d = WindowUsed("7d")
    window_7d_start = WindowTime("7d", "window_start")
    window_7d_resets_at = WindowTime("7d", "resets_at")

    class Meta:
        model = ApiKey
        fields = [
            "id", "user_id", "name", "key_prefix", "masked_key", "group_id", "group", "status", "ip_whitelist",
            "ip_blacklist", "quota", "quota_used", "expires_at", "last_used_at", "created_at", "updated_at",
            "rate_limit_5h", "rate_limit_1d", "rate_limit_7d", "usage_5h", "usage_1d", "usage_7d",
            "window_5h_start", "window_1d_start", "window_7d_start",
            "window_5h_resets_at", "window_1d_resets_at", "window_7d_resets_at", "concurrency", "rpm_limit",
        ]
        read_only_fields = fields


class CreatedKeyOut(KeyOut):
    """The create answer: the only one that carries the secret."""

    key = serializers.CharField(source="secret", read_only=True, help_text="the secret, shown this once")

    class Meta(KeyOut.Meta):
        fields = [*KeyOut.Meta.fields, "key"]
        read_only_fields = fields


class AdminKeyOut(KeyOut):
    user_email = serializers.EmailField(source="user.email", read_only=True)

    class Meta(KeyOut.Meta):
        fields = [*KeyOut.Meta.fields, "user_email"]
        read_only_fields = fields


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "IP addresses or CIDR ranges"})
class IpRules(serializers.Field):
    def to_internal_value(self, data):
        return services.clean_ip_list(data, self.field_name)  # KeyRuleError: a 400 naming the field


class KeyBody(ModelBody):
    """The fields a key's create and update bodies share. group_id 0 means no group."""

    group_id = Id("group", zero_clears=True, required=False)
    ip_whitelist = IpRules(required=False)
    ip_blacklist = IpRules(required=False)

    class Meta:
        model = ApiKey
        fields = [
            "name", "group_id", "quota", "ip_whitelist", "ip_blacklist", "rate_limit_5h", "rate_limit_1d",
            "rate_limit_7d", "concurrency", "rpm_limit",
        ]

    def validate_group_id(self, pk):
        if pk is None:
            return None
        group = Group.objects.filter(pk=pk).first()
        if group is None:
            raise ApiError(404, "Group not found", "GROUP_NOT_FOUND")
        return group

    def changes(self) -> dict:
        """The validated fields as keyword arguments of services.create_key / update_key."""
        data = dict(self.validated_data)
        if "group_id" in data:
            data["group"] = data.pop("group_id")
        return data


class KeyCreateBody(KeyBody):
    expires_in_days = StrictInteger(
        required=False, min_value=1, max_value=services.MAX_EXPIRES_IN_DAYS,
        error_messages={"min_value": "must be > 0"},
    )

    class Meta(KeyBody.Meta):
        fields = [*KeyBody.Meta.fields, "expires_in_days"]


class KeyUpdateBody(KeyBody):
    status = Choice(services.USER_SETTABLE_STATUSES, required=False)
    reset_quota = Bool(required=False, help_text="true zeroes quota_used (and reactivates an exhausted key)")
    reset_rate_limit_usage = Bool(required=False, help_text="true zeroes the 5h, 1d and 7d windows' usage")
    expires_at = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False,
        help_text='RFC 3339 timestamp; "" removes the expiry; null or absent leaves it',
    )

    class Meta(KeyBody.Meta):
        fields = [*KeyBody.Meta.fields, "status", "reset_quota", "reset_rate_limit_usage", "expires_at"]

    def validate_expires_at(self, value):
        return services.parse_expires_at(value)  # KeyRuleError: "Invalid expires_at format: ..."

    def changes(self) -> dict:
        data = super().changes()
        data["reset_quota"] = data.get("reset_quota") is True
        data["reset_rate_limit_usage"] = data.get("reset_rate_limit_usage") is True
        return data
