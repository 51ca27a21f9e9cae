"""Login and users over REST: /api/v1/auth/* for everyone, /api/v1/admin/users for admins."""

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny

from apikeys import cache
from billing import balance
from billing.models import BalanceChange
from core.clientip import request_ip
from core.payload import get_or_404
from core.rest import ApiError, Message, documented, ok, page
from users import login
from users.authentication import AdminView, UserView
from users.models import User
from users.serializers import (
    AdminUserBody,
    AdminUserCreateBody,
    AdminUserOut,
    BalanceBody,
    LoginBody,
    LoginOut,
    UserOut,
)
from users.tokens import issue_token

# --- auth ------------------------------------------------------------------------------------------------


class LoginView(UserView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @documented(request=LoginBody, response=LoginOut, errors=(401, 429), auth=[])
    def post(self, request):
        body = LoginBody(data=request.data)
        body.is_valid(raise_exception=True)
        email, password = body.validated_data["email"], body.validated_data["password"]
        if (wait := login.attempt_wait(request_ip(request), email)) is not None:
            raise Throttled(wait, login.too_many_attempts(wait))
        user = authenticate(request._request, email=email, password=password)
        if user is None:
            raise ApiError(401, "Invalid email or password", "INVALID_CREDENTIALS")
        return ok({
            "access_token": issue_token(user),
            "token_type": "Bearer",
            "expires_in": settings.API_TOKEN_TTL,
            "user": UserOut(user).data,
        })


class MeView(UserView):
    @documented(response=UserOut)
    def get(self, request):
        return ok(UserOut(request.user).data)


# --- admin -----------------------------------------------------------------------------------------------


def _users():
    return User.objects.prefetch_related("allowed_groups").order_by("id")


def _user(pk) -> User:
    return get_or_404(User.objects.all(), pk, "User", "USER_NOT_FOUND")


def _saved(user: User, group_ids, **save) -> User:
    try:
        with transaction.atomic():
            user.save(**save)
            if group_ids is not None:
                user.allowed_groups.set(group_ids)
    except IntegrityError:
        raise ApiError(409, f"email: a user with email {user.email!r} already exists", "EMAIL_EXISTS")
    transaction.on_commit(lambda: cache.invalidate_user(user.pk))
    return _users().get(pk=user.pk)


class AdminUserListView(AdminView):
    @documented(response=AdminUserOut, paged=True, parameters=[
        OpenApiParameter("role", str, enum=User.Role.values), OpenApiParameter("status", str, enum=User.Status.values),
        OpenApiParameter("search", str, description="part of the email"),
    ])
    def get(self, request):
        users = _users()
        params = request.query_params
        for name in ("role", "status"):
            if params.get(name):
                users = users.filter(**{name: params[name]})
        if params.get("search"):
            users = users.filter(email__icontains=params["search"])
        return page(request, users, AdminUserOut)

    @documented(request=AdminUserCreateBody, response=AdminUserOut, errors=(404, 409))
    def post(self, request):
        body = AdminUserCreateBody(data=request.data)
        body.is_valid(raise_exception=True)
        user = User()
        group_ids = body.apply(user)
        with transaction.atomic():
            saved = _saved(user, group_ids)
            balance.record_opening(saved, kind=BalanceChange.Kind.API, actor=request.user)
        return ok(AdminUserOut(saved).data)


class AdminUserDetailView(AdminView):
    @documented(response=AdminUserOut)
    def get(self, request, pk):
        return ok(AdminUserOut(get_or_404(_users(), pk, "User", "USER_NOT_FOUND")).data)

    @documented(request=AdminUserBody(partial=True), response=AdminUserOut, errors=(409,))
    def put(self, request, pk):
        user = _user(pk)
        body = AdminUserBody(user, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        group_ids = body.apply(user)
        # balance is never written here: it changes only through /balance, atomically.
        fields = [f.name for f in User._meta.concrete_fields if f.name not in ("id", "balance")]
        return ok(AdminUserOut(_saved(user, group_ids, update_fields=fields)).data)

    @documented(response=Message)
    def delete(self, request, pk):
        user = _user(pk)
        if user.pk == getattr(request.user, "pk", None):
            raise ApiError(400, "You cannot delete your own account")
        user_id = user.pk
        user.delete()
        transaction.on_commit(lambda: cache.invalidate_user(user_id))
        return ok({"message": "User deleted successfully"})


class AdminUserBalanceView(AdminView):
    """POST {balance, operation: set|add|subtract, notes}: one atomic update, kept in the balance history
    with its notes; the balance never goes negative."""

    @documented(request=BalanceBody, response=AdminUserOut)
    def post(self, request, pk):
        user = _user(pk)
        body = BalanceBody(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        amount, operation = data["balance"], data["operation"]
        change = {"kind": BalanceChange.Kind.API, "note": data.get("notes", ""), "actor": request.user}
        try:
            if operation == "set":
                balance.set_balance(user, amount, **change)
            else:
                balance.adjust(user, amount if operation == "add" else -amount, **change)
        except balance.BalanceError as exc:
            raise ApiError(400, f"balance: {exc.message}", exc.code)
        return ok(AdminUserOut(_users().get(pk=user.pk)).data)
