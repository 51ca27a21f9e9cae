"""The answers of the statistics API (what the schema documents; money as exact numbers)."""

from rest_framework import serializers

from billing.models import UsageLog
from core.serializers import Money

S, Int = serializers.CharField, serializers.IntegerField


def _out(name: str, **fields) -> type:
    return type(name, (serializers.Serializer,), fields)


def _range(name: str, **fields) -> type:
    return _out(name, start_date=S(), end_date=S(), **fields)


TOKENS = {n: Int() for n in ("requests", "input_tokens", "output_tokens", "cache_creation_tokens",
                           "cache_read_tokens", "total_tokens")}
TrendPoint = _out("TrendPoint", date=S(help_text="YYYY-MM-DD, or YYYY-MM-DD HH:00 by hour"), **TOKENS,
                  cost=Money(), actual_cost=Money())
ModelStat = _out("ModelStat", model=S(help_text="requested model, upstream model or 'a -> b' per model_source"),
                 **TOKENS, cost=Money(), actual_cost=Money())
GroupStat = _out("GroupStat", group_id=Int(allow_null=True), group_name=S(), requests=Int(), total_tokens=Int(),
                 cost=Money(), actual_cost=Money())
UserStat = _out("UserStat", user_id=Int(), email=S(), requests=Int(), total_tokens=Int(), cost=Money(),
                actual_cost=Money())
KeyTrendPoint = _out("KeyTrendPoint", date=S(), api_key_id=Int(), key_name=S(), requests=Int(), total_tokens=Int(),
                     cost=Money(), actual_cost=Money())

TrendOut = _range("TrendOut", granularity=S(), trend=TrendPoint(many=True))
ModelsOut = _range("ModelsOut", models=ModelStat(many=True))
GroupsOut = _range("GroupsOut", groups=GroupStat(many=True))
UsersOut = _range("UsersOut", users=UserStat(many=True))
RankingOut = _range("RankingOut", ranking=UserStat(many=True))
KeysTrendOut = _range("KeysTrendOut", granularity=S(), trend=KeyTrendPoint(many=True))
UsageStatsOut = _out(
    "UsageStatsOut", total_requests=Int(), total_input_tokens=Int(), total_output_tokens=Int(),
    total_cache_tokens=Int(), total_tokens=Int(), total_cost=Money(), total_actual_cost=Money(),
    average_duration_ms=serializers.FloatField(),
)
_DASHBOARD = {
    **{n: Int() for n in ("total_requests", "total_tokens", "total_input_tokens", "total_output_tokens",
                        "total_cache_read_tokens", "total_cache_creation_tokens", "today_requests",
                        "today_tokens", "today_errors")},
    **{n: Money() for n in ("total_cost", "total_actual_cost", "today_cost", "today_actual_cost")},
    "rpm": serializers.FloatField(help_text="requests per minute over the last 5 minutes"),
    "tpm": serializers.FloatField(help_text="tokens per minute over the last 5 minutes"),
    "average_duration_ms": serializers.FloatField(),
}
UserDashboardOut = _out("UserDashboardOut", **_DASHBOARD)
AdminDashboardOut = _out(
    "AdminDashboardOut", **_DASHBOARD,
    **{n: Int() for n in ("total_users", "active_users", "total_api_keys", "active_api_keys", "total_accounts",
                        "normal_accounts", "error_accounts")},
    accounts_by_status=serializers.DictField(child=Int()),
)
BackfillOut = _out("BackfillOut", start=serializers.DateTimeField(), watermark=serializers.DateTimeField(),
                   logs=Int(help_text="usage logs aggregated"))


class BackfillBody(serializers.Serializer):
    start_date = S(help_text="rebuild from this day (YYYY-MM-DD in TIME_ZONE) or ISO datetime up to now")


USER_FIELDS = [
    "id", "request_id", "user_id", "api_key_id", "group_id", "model", "input_tokens", "output_tokens",
    "cache_creation_tokens", "cache_read_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens",
    "input_cost", "output_cost", "cache_creation_cost", "cache_read_cost", "total_cost", "actual_cost",
    "rate_multiplier", "billing_type", "stream", "duration_ms", "first_token_ms", "status", "endpoint",
    "service_tier", "created_at",
]


class UserUsageOut(serializers.ModelSerializer):
    """A user's own log: never the upstream model or the account (S2 follow-up)."""

    input_cost = Money()
    output_cost = Money()
    cache_creation_cost = Money()
    cache_read_cost = Money()
    total_cost = Money()
    actual_cost = Money()
    rate_multiplier = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=False)

    class Meta:
        model = UsageLog
        fields = USER_FIELDS
        read_only_fields = fields


class AdminUsageOut(UserUsageOut):
    """An admin's view of a log; `upstream_model` only when the request was mapped to another model."""

    upstream_model = serializers.CharField(required=False, help_text="present only when it differs from model")
    account_rate_multiplier = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=False)
    user_email = serializers.CharField(source="user.email")

    class Meta(UserUsageOut.Meta):
        fields = [*USER_FIELDS, "upstream_model", "account_id", "account_rate_multiplier", "user_email",
                  "user_agent", "ip_address"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        upstream = (instance.upstream_model or "").strip()
        if not upstream or upstream == instance.model:
            data.pop("upstream_model", None)
        return data
