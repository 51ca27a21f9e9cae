"""Login and users over REST: request bodies and answers."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from rest_framework import serializers

from billing.balance import MAX_BALANCE, MAX_NOTE
from core.rest import ApiError
from core.serializers import Answer, Body, Choice, IdList, ModelBody, Money, Text
from users.models import User


class UserOut(Answer):
    class Meta:
        model = User
        fields = ["id", "email", "username", "role", "balance", "concurrency", "status", "created_at", "updated_at"]
        read_only_fields = fields


class AdminUserOut(UserOut):
    allowed_groups = serializers.SerializerMethodField()

    class Meta(UserOut.Meta):
        fields = [*UserOut.Meta.fields, "notes", "is_staff", "allowed_groups"]
        read_only_fields = fields

    def get_allowed_groups(self, user) -> list[int]:
        return sorted(g.id for g in user.allowed_groups.all())


class LoginBody(Body):
    email = Text(max_length=254)
    password = Text(max_length=1024, trim_whitespace=False)

    def validate_email(self, email):
        return email.lower()


class LoginOut(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField(help_text="Bearer")
    expires_in = serializers.IntegerField(help_text="seconds")
    user = UserOut()


class AdminUserBody(ModelBody):
    """Update a user (`partial`: absent fields stay). The balance changes only through /balance."""

    password = Text(
        write_only=True, max_length=1024, min_length=8, trim_whitespace=False,
        error_messages={"min_length": "at least 8 characters"},
    )
    allowed_groups = IdList("group", required=False, help_text="exclusive groups the user may bind keys to")

    class Meta:
        model = User
        fields = ["email", "password", "username", "notes", "role", "status", "concurrency", "allowed_groups"]
        extra_kwargs = {
            "email": {"validators": [], "max_length": 254},  # a taken email is a 409 (validate_email)
            "notes": {"trim_whitespace": False},
        }

    def validate_email(self, email):
        try:
            validate_email(email)
        except ValidationError:
            raise serializers.ValidationError("not a valid email address")
        email = email.lower()
        if User.objects.filter(email=email).exclude(pk=getattr(self.instance, "pk", None)).exists():
            raise ApiError(409, f"email: a user with email {email!r} already exists", "EMAIL_EXISTS")
        return email

    def validate_allowed_groups(self, ids):
        from groups.api import existing_group_ids

        return existing_group_ids(ids, "allowed_groups")

    def apply(self, user: User) -> list[int] | None:
        """Copy the fields onto `user`; returns the group ids to set (None = leave them)."""
        data = dict(self.validated_data)
        group_ids = data.pop("allowed_groups", None)
        if (password := data.pop("password", None)) is not None:
            user.set_password(password)
        for field, value in data.items():
            setattr(user, field, value)
        if "role" in data:
            user.is_staff = user.is_superuser = data["role"] == User.Role.ADMIN
        return group_ids


class AdminUserCreateBody(AdminUserBody):
    """Create a user: email and password required; a starting balance may be given (never negative)."""

    class Meta(AdminUserBody.Meta):
        fields = [*AdminUserBody.Meta.fields, "balance"]
        extra_kwargs = {**AdminUserBody.Meta.extra_kwargs, "balance": {"min_value": 0}}


class BalanceBody(Body):
    balance = Money(min_value=Decimal(0), max_value=MAX_BALANCE)
    operation = Choice(("set", "add", "subtract"))
    notes = Text(required=False, allow_blank=True, max_length=MAX_NOTE, trim_whitespace=False,
                 help_text="why the balance changed")
