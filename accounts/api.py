"""Upstream accounts over REST for admins (/api/v1/admin/accounts). The JSON rules are those of
accounts.serializers; saving goes through accounts.services.save_account (S3 credential rules, S4 quota
settings)."""

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter

from accounts.models import Account
from accounts.serializers import AccountBody, AccountCreateBody, AccountOut
from accounts.services import AccountRuleError, save_account
from core.payload import get_or_404, parse_id
from core.rest import ApiError, Message, documented, ok, page
from groups.models import Group, Platform
from users.authentication import AdminView


def _accounts():
    return Account.objects.prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("sort_order", "id")))


def _account(pk) -> Account:
    return get_or_404(_accounts(), pk, "Account", "ACCOUNT_NOT_FOUND")


def _saved(body: AccountBody, account: Account):
    body.is_valid(raise_exception=True)
    group_ids = body.apply(account)
    try:
        save_account(account, group_ids)
    except AccountRuleError as exc:
        raise ApiError(400, exc.message)
    return ok(AccountOut(_accounts().get(pk=account.pk)).data)


class AccountListView(AdminView):
    @documented(response=AccountOut, paged=True, parameters=[
        OpenApiParameter("platform", str, enum=Platform.values),
        OpenApiParameter("type", str, enum=Account.Type.values),
        OpenApiParameter("status", str, enum=Account.Status.values), OpenApiParameter("group_id", int),
        OpenApiParameter("search", str, description="part of the name"),
    ])
    def get(self, request):
        accounts = _accounts().order_by("priority", "id")
        params = request.query_params
        for name in ("platform", "type", "status"):
            if params.get(name):
                accounts = accounts.filter(**{name: params[name]})
        if params.get("group_id"):
            accounts = accounts.filter(memberships__group_id=parse_id(params["group_id"], "group"))
        if params.get("search"):
            accounts = accounts.filter(name__icontains=params["search"])
        context = {"now": timezone.now(), "request": request}  # one "now" for the whole page
        return page(request, accounts, lambda account: AccountOut(account, context=context).data)

    @documented(request=AccountCreateBody, response=AccountOut, errors=(404,))
    def post(self, request):
        return _saved(AccountCreateBody(data=request.data), Account())


class AccountDetailView(AdminView):
    @documented(response=AccountOut)
    def get(self, request, pk):
        return ok(AccountOut(_account(pk)).data)

    @documented(request=AccountBody(partial=True), response=AccountOut)
    def put(self, request, pk):
        account = _account(pk)
        return _saved(AccountBody(account, data=request.data, partial=True), account)

    @documented(response=Message)
    def delete(self, request, pk):
        _account(pk).delete()
        return ok({"message": "Account deleted successfully"})


class AccountActionView(AdminView):
    """POST /accounts/{id}/<action>: one model method, then the refreshed account."""

    action = ""  # set per route: reset_quota | clear_error | clear_rate_limit

    @documented(request=None, response=AccountOut)
    def post(self, request, pk):
        account = _account(pk)
        getattr(account, self.action)()  # each action tells the scheduler itself
        return ok(AccountOut(_account(account.pk)).data)
