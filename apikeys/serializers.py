"""API keys over REST: request bodies and answers. The rules stay in apikeys.services; these read the
request into the typed values the services take (absent = unchanged on an update)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apikeys import services
from apikeys.models import ApiKey
from core.rest import ApiError
from core.serializers import Answer, Bool, Choice, Id, ModelBody, StrictInteger
from groups.models import Group


class KeyGroupOut(Answer):
    class Meta:
        model = Group
        fields = ["id", "name", "platform"]
        read_only_fields = fields


class KeyOut(Answer):
    key_prefix = serializers.CharField(source="prefix", read_only=True)
    masked_key = serializers.CharField(source="masked", read_only=True)
    group_id = serializers.IntegerField(read_only=True, allow_null=True)
    group = KeyGroupOut(read_only=True, allow_null=True)
    ip_whitelist = serializers.ListField(child=serializers.CharField(), read_only=True)
    ip_blacklist = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id", "user_id", "name", "key_prefix", "masked_key", "group_id", "group", "status", "ip_whitelist",
            "ip_blacklist", "quota", "quota_used", "expires_at", "last_used_at", "created_at", "updated_at",
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
        fields = ["name", "group_id", "quota", "ip_whitelist", "ip_blacklist"]

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
    expires_at = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False,
        help_text='RFC 3339 timestamp; "" removes the expiry; null or absent leaves it',
    )

    class Meta(KeyBody.Meta):
        fields = [*KeyBody.Meta.fields, "status", "reset_quota", "expires_at"]

    def validate_expires_at(self, value):
        return services.parse_expires_at(value)  # KeyRuleError: "Invalid expires_at format: ..."

    def changes(self) -> dict:
        data = super().changes()
        data["reset_quota"] = data.get("reset_quota") is True
        return data
