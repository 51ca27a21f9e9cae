"""Routes of the management REST API under /api/v1/ (the reference's paths, see spec §5.3-5.5)."""

from django.urls import path, re_path

from accounts import api as accounts
from accounts import settings_api
from apikeys import api as apikeys
from core.rest import ApiError
from groups import api as groups
from usage import api as usage
from users import api as users
from users.authentication import AdminView


class NotFoundView(AdminView):
    """Unknown /api/v1/ paths answer in the envelope too."""

    authentication_classes = []
    permission_classes = []
    schema = None

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise ApiError(404, "Not found")

    get = post = put = delete = patch = http_method_not_allowed


urlpatterns = [
    # auth + user
    path("auth/login", users.LoginView.as_view()),
    path("auth/me", users.MeView.as_view()),
    path("keys", apikeys.KeyListView.as_view()),
    path("keys/<str:pk>", apikeys.KeyDetailView.as_view()),
    path("groups/available", groups.AvailableGroupsView.as_view()),
    # admin: groups (sort-order and all before <pk>)
    path("admin/groups", groups.GroupListView.as_view()),
    path("admin/groups/all", groups.GroupAllView.as_view()),
    path("admin/groups/sort-order", groups.GroupSortOrderView.as_view()),
    path("admin/groups/<str:pk>", groups.GroupDetailView.as_view()),
    # admin: accounts
    path("admin/accounts", accounts.AccountListView.as_view()),
    path("admin/accounts/<str:pk>", accounts.AccountDetailView.as_view()),
    path("admin/accounts/<str:pk>/reset-quota", accounts.AccountActionView.as_view(action="reset_quota")),
    path("admin/accounts/<str:pk>/clear-error", accounts.AccountActionView.as_view(action="clear_error")),
    path(
        "admin/accounts/<str:pk>/clear-rate-limit", accounts.AccountActionView.as_view(action="clear_rate_limit")
    ),
    # admin: settings
    path("admin/settings/beta-policy", settings_api.BetaPolicyView.as_view()),
    # admin: users
    path("admin/users", users.AdminUserListView.as_view()),
    path("admin/users/<str:pk>", users.AdminUserDetailView.as_view()),
    path("admin/users/<str:pk>/balance", users.AdminUserBalanceView.as_view()),
    # admin: api keys
    path("admin/api-keys", apikeys.AdminKeyListView.as_view()),
    path("admin/api-keys/<str:pk>", apikeys.AdminKeyDetailView.as_view()),
    # usage statistics: the user's own, then the admin's (dashboard paths before <pk>)
    path("usage", usage.UsageListView.as_view()),
    path("usage/stats", usage.UsageStatsView.as_view()),
    path("usage/dashboard/stats", usage.UserDashboardStatsView.as_view()),
    path("usage/dashboard/trend", usage.UserDashboardTrendView.as_view()),
    path("usage/dashboard/models", usage.UserDashboardModelsView.as_view()),
    path("usage/<str:pk>", usage.UsageDetailView.as_view()),
    path("admin/dashboard/stats", usage.DashboardStatsView.as_view()),
    path("admin/dashboard/trend", usage.DashboardTrendView.as_view()),
    path("admin/dashboard/models", usage.DashboardModelsView.as_view()),
    path("admin/dashboard/groups", usage.DashboardGroupsView.as_view()),
    path("admin/dashboard/user-breakdown", usage.DashboardUserBreakdownView.as_view()),
    path("admin/dashboard/users-ranking", usage.DashboardUsersRankingView.as_view()),
    path("admin/dashboard/api-keys-trend", usage.DashboardApiKeysTrendView.as_view()),
    path("admin/dashboard/aggregation/backfill", usage.AggregationBackfillView.as_view()),
    path("admin/usage", usage.AdminUsageListView.as_view()),
    path("admin/usage/stats", usage.AdminUsageStatsView.as_view()),
    re_path(r"^.*$", NotFoundView.as_view()),
]
