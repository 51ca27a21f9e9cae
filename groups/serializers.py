"""Groups over REST: the request bodies and the answers (sub2api's JSON shape, spec S6 order)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.rest import MAX_DB_ID, ApiError
from core.serializers import Answer, Body, Id, ModelBody, StrictInteger, refuse_bad_patterns, refuse_nul_keys
from groups.models import Group


class GroupOut(Answer):
    fallback_group_id = serializers.IntegerField(read_only=True, allow_null=True)
    model_routing = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField()), read_only=True,
        help_text="model pattern → account ids",
    )
    account_count = serializers.IntegerField(read_only=True, help_text="accounts in the group")

    class Meta:
        model = Group
        fields = [
            "id", "name", "description", "platform", "rate_multiplier", "is_exclusive", "status", "subscription_type",
            "daily_limit_usd", "weekly_limit_usd", "monthly_limit_usd", "default_validity_days", "claude_code_only",
            "fallback_group_id", "model_routing_enabled", "model_routing", "sort_order", "account_count",
            "created_at", "updated_at",
        ]
        read_only_fields = fields


class AvailableGroupOut(Answer):
    """What a user sees of a group: no admin settings (routing, fallback, sort order)."""

    class Meta:
        model = Group
        fields = [
            "id", "name", "description", "platform", "rate_multiplier", "is_exclusive", "status", "subscription_type",
            "daily_limit_usd", "weekly_limit_usd", "monthly_limit_usd", "claude_code_only",
        ]
        read_only_fields = fields


@extend_schema_field({
    "type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "description": "model pattern (e.g. claude-*) → account ids tried first",
})
class RoutingField(serializers.Field):
    default_error_messages = {"invalid": "must be an object of model patterns to lists of account ids"}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        refuse_nul_keys(data)
        refuse_bad_patterns(data)
        for pattern, ids in data.items():
            if not pattern or len(pattern) > 200:
                raise serializers.ValidationError("patterns must be 1 to 200 characters")
            if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_DB_ID for i in ids
            ):
                raise serializers.ValidationError(f"{pattern!r} must map to a list of account ids")
        return dict(data)

    def to_representation(self, value):
        return value


class GroupBody(ModelBody):
    """Create (name required) or update (`partial`: absent fields stay) a group. A limit of null or 0
    removes it; fallback_group_id null or 0 removes the fallback."""

    fallback_group_id = Id("group", zero_clears=True, allow_null=True, required=False)
    model_routing = RoutingField(required=False)

    class Meta:
        model = Group
        fields = [
            "name", "description", "platform", "status", "subscription_type", "rate_multiplier", "is_exclusive",
            "daily_limit_usd", "weekly_limit_usd", "monthly_limit_usd", "default_validity_days",
            "claude_code_only", "fallback_group_id", "model_routing_enabled", "model_routing", "sort_order",
        ]
        extra_kwargs = {
            "name": {"validators": []},  # a taken name is a 409 (validate_name), not DRF's 400
            "description": {"trim_whitespace": False},
        }

    def validate_name(self, name):
        if Group.objects.filter(name=name).exclude(pk=getattr(self.instance, "pk", None)).exists():
            raise ApiError(409, f"name: a group named {name!r} already exists", "GROUP_EXISTS")
        return name

    def _limit(self, value):
        return None if value == 0 else value

    validate_daily_limit_usd = validate_weekly_limit_usd = validate_monthly_limit_usd = _limit

    def validate_fallback_group_id(self, pk):
        if pk is None:
            return None
        if self.instance is not None and pk == self.instance.pk:
            raise serializers.ValidationError("a group cannot fall back to itself")
        if not Group.objects.filter(pk=pk).exists():
            raise ApiError(404, f"fallback_group_id: group {pk} not found", "GROUP_NOT_FOUND")
        return pk

    def validate(self, attrs):
        attrs = super().validate(attrs)
        pk = attrs.get("fallback_group_id", getattr(self.instance, "fallback_group_id", None))
        if pk:
            group = self.instance or Group()
            platform = attrs.get("platform", group.platform)
            if problem := group.fallback_problem(Group.objects.get(pk=pk), platform):
                raise serializers.ValidationError({"fallback_group_id": str(problem)})
        return attrs


class SortOrderItem(ModelBody):
    id = StrictInteger(min_value=-(2**63), max_value=MAX_DB_ID, help_text="ids <= 0 are ignored, except 0")

    class Meta:
        model = Group
        fields = ["id", "sort_order"]

    def validate_id(self, value):
        if value == 0:
            raise serializers.ValidationError("is required")
        return value


class SortOrderBody(Body):
    updates = SortOrderItem(many=True, allow_empty=False)

    def orders(self) -> dict[int, int]:
        """{group id: sort_order}; duplicates: the last one wins; non-positive ids are left out."""
        return {u["id"]: u.get("sort_order", 0) for u in self.validated_data["updates"] if u["id"] > 0}
