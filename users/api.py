"""Login and users over REST: /api/v1/auth/* for everyone, /api/v1/admin/users for admins."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny

from apikeys import cache
from core.clientip import request_ip
from core.money import nanos
from core.payload import UNSET, Payload, get_or_404, iso
from core.rest import ApiError, ok, page
from groups.api import existing_group_ids
from users import login
from users.authentication import AdminView, UserView
from users.models import User
from users.tokens import issue_token

MAX_BALANCE = Decimal(9_000_000_000)  # the nano-dollar BIGINT column holds up to ~9.2e9 USD


def present_user(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "role": user.role,
        "balance": user.balance,
        "concurrency": user.concurrency,
        "status": user.status,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def present_user_for_admin(user: User) -> dict:
    return {
        **present_user(user),
        "notes": user.notes,
        "is_staff": user.is_staff,
        "allowed_groups": sorted(g.id for g in user.allowed_groups.all()),
    }


# --- auth ------------------------------------------------------------------------------------------------


class LoginView(UserView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        payload = Payload(request.data)
        email = payload.string("email", required=True, max_length=254).lower()
        password = payload.string("password", required=True, strip=False, max_length=1024)
        if (wait := login.attempt_wait(request_ip(request), email)) is not None:
            raise Throttled(wait, login.too_many_attempts(wait))
        user = authenticate(request._request, email=email, password=password)
        if user is None:
            raise ApiError(401, "Invalid email or password", "INVALID_CREDENTIALS")
        return ok({
            "access_token": issue_token(user),
            "token_type": "Bearer",
            "expires_in": settings.API_TOKEN_TTL,
            "user": present_user(user),
        })


class MeView(UserView):
    def get(self, request):
        return ok(present_user(request.user))


# --- admin -----------------------------------------------------------------------------------------------


def _apply(user: User, payload: Payload, creating: bool) -> list[int] | None:
    email = payload.string("email", required=creating, max_length=254)
    if email is not UNSET:
        try:
            validate_email(email)
        except ValidationError:
            raise ApiError(400, "email: not a valid email address")
        email = email.lower()
        if User.objects.filter(email=email).exclude(pk=user.pk).exists():
            raise ApiError(409, f"email: a user with email {email!r} already exists", "EMAIL_EXISTS")
        user.email = email
    password = payload.string("password", required=creating, strip=False, max_length=1024)
    if password is not UNSET:
        if len(password) < 8:
            raise ApiError(400, "password: at least 8 characters")
        user.set_password(password)
    simple = {
        "username": payload.string("username", max_length=100),
        "notes": payload.string("notes", strip=False, max_length=10_000),
        "role": payload.string("role", choices=User.Role.values),
        "status": payload.string("status", choices=User.Status.values),
        "concurrency": payload.integer("concurrency", min_value=0, max_value=100_000),
    }
    for field, value in simple.items():
        if value is not UNSET:
            setattr(user, field, value)
    if simple["role"] is not UNSET:
        user.is_staff = user.is_superuser = simple["role"] == User.Role.ADMIN
    if creating and (balance := payload.money("balance")) is not UNSET:
        user.balance = balance
    group_ids = payload.id_list("allowed_groups", "group")
    if group_ids is UNSET:
        return None
    return existing_group_ids(group_ids, "allowed_groups")


def _save(user: User, group_ids) -> User:
    try:
        with transaction.atomic():
            user.save()
            if group_ids is not None:
                user.allowed_groups.set(group_ids)
    except IntegrityError:
        raise ApiError(409, f"email: a user with email {user.email!r} already exists", "EMAIL_EXISTS")
    transaction.on_commit(lambda: cache.invalidate_user(user.pk))
    return User.objects.prefetch_related("allowed_groups").get(pk=user.pk)


def _users():
    return User.objects.prefetch_related("allowed_groups").order_by("id")


class AdminUserListView(AdminView):
    def get(self, request):
        users = _users()
        params = request.query_params
        for name in ("role", "status"):
            if params.get(name):
                users = users.filter(**{name: params[name]})
        if params.get("search"):
            users = users.filter(email__icontains=params["search"])
        return page(request, users, present_user_for_admin)

    def post(self, request):
        user = User()
        group_ids = _apply(user, Payload(request.data), creating=True)
        return ok(present_user_for_admin(_save(user, group_ids)))


class AdminUserDetailView(AdminView):
    def get(self, request, pk):
        return ok(present_user_for_admin(get_or_404(_users(), pk, "User", "USER_NOT_FOUND")))

    def put(self, request, pk):
        user = get_or_404(User.objects.all(), pk, "User", "USER_NOT_FOUND")
        # balance is not an editable field here: it changes only through /balance, atomically.
        group_ids = _apply(user, Payload(request.data), creating=False)
        user.save(update_fields=[f.name for f in User._meta.concrete_fields if f.name not in ("id", "balance")])
        if group_ids is not None:
            user.allowed_groups.set(group_ids)
        transaction.on_commit(lambda: cache.invalidate_user(user.pk))
        return ok(present_user_for_admin(_users().get(pk=user.pk)))

    def delete(self, request, pk):
        user = get_or_404(User.objects.all(), pk, "User", "USER_NOT_FOUND")
        if user.pk == getattr(request.user, "pk", None):
            raise ApiError(400, "You cannot delete your own account")
        user_id = user.pk
        user.delete()
        transaction.on_commit(lambda: cache.invalidate_user(user_id))
        return ok({"message": "User deleted successfully"})


class AdminUserBalanceView(AdminView):
    """POST {balance, operation: set|add|subtract, notes}: one UPDATE; the balance never goes negative."""

    def post(self, request, pk):
        user = get_or_404(User.objects.all(), pk, "User", "USER_NOT_FOUND")
        payload = Payload(request.data)
        amount = payload.money("balance", required=True)
        operation = payload.string("operation", required=True, choices=("set", "add", "subtract"))
        payload.string("notes", strip=False, max_length=10_000)  # accepted for compatibility; not stored
        rows = User.objects.filter(pk=user.pk)
        if operation == "set":
            rows.update(balance=amount)
        elif operation == "add":
            if not rows.filter(balance__lte=MAX_BALANCE - amount).update(balance=F("balance") + nanos(amount)):
                raise ApiError(400, f"balance: the result would exceed {MAX_BALANCE}")
        elif not rows.filter(balance__gte=amount).update(balance=F("balance") - nanos(amount)):
            raise ApiError(400, "balance: the result would be negative", "INSUFFICIENT_BALANCE")
        transaction.on_commit(lambda: cache.invalidate_user(user.pk))
        return ok(present_user_for_admin(_users().get(pk=user.pk)))
