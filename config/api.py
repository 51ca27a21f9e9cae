"""The management REST API's plumbing: envelope, errors, pagination, authentication and input parsing.

Every /api/v1/ answer has the reference's envelope so scripts written for sub2api keep working:
success `{"code":0,"message":"success","data":...}`, pages `data={items,total,page,page_size,pages}`,
errors `{"code":<http status>,"message":"...","reason":"<REASON>"}` (reason optional).
Bad input is always a 400 naming the field, never a 500.
"""

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC
from decimal import Decimal

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.services import KeyRuleError
from billing.money import to_decimal

UNSET = object()  # absent from the request body (or null): leave the field as it is
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
MAX_DB_ID = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_MONEY = Decimal(1_000_000_000)


# --- envelope ------------------------------------------------------------------------------------------


class ApiError(exceptions.APIException):
    """An error answer with the reference's envelope; `reason` is its UPPER_SNAKE machine code."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        self.status_code, self.detail, self.reason = status, message, reason


def ok(data=None) -> Response:
    return Response({"code": 0, "message": "success", "data": data})


def error_body(status: int, message: str, reason: str | None = None) -> dict:
    body = {"code": status, "message": message}
    if reason:
        body["reason"] = reason
    return body


def page(request, queryset, present: Callable) -> Response:
    """One page of `queryset` (already ordered), each row through `present`."""
    number = _page_param(request, "page", 1)
    size = min(_page_param(request, "page_size", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    total = queryset.count()
    rows = queryset[(number - 1) * size : number * size] if (number - 1) * size < total else []
    return ok({
        "items": [present(row) for row in rows],
        "total": total,
        "page": number,
        "page_size": size,
        "pages": math.ceil(total / size) if total else 0,
    })


def _page_param(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise ApiError(400, f"{name}: must be a positive integer")
    return int(raw)


def _message(detail) -> str:
    """One readable line from DRF's error detail (str, list or {field: [messages]})."""
    if isinstance(detail, Mapping):
        return "; ".join(
            str(msgs) if field == "non_field_errors" else f"{field}: {_message(msgs)}" for field, msgs in detail.items()
        )
    if isinstance(detail, list | tuple):
        return "; ".join(_message(item) for item in detail)
    return str(detail)


_DEFAULT_REASONS = {
    exceptions.NotAuthenticated: "UNAUTHORIZED",
    exceptions.AuthenticationFailed: "UNAUTHORIZED",
    exceptions.PermissionDenied: "FORBIDDEN",
}


def exception_handler(exc, context):
    """DRF's exception hook: every client error in the envelope. Unexpected exceptions still raise."""
    if isinstance(exc, KeyRuleError):
        exc = ApiError(exc.status, exc.message, exc.reason)
    elif isinstance(exc, Http404):
        exc = ApiError(404, "Not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    status = exc.status_code
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        status = 401
    message = _message(exc.detail)
    if isinstance(exc, exceptions.ParseError):
        message = f"Invalid request: {message}"
    reason = getattr(exc, "reason", None) or next(
        (r for cls, r in _DEFAULT_REASONS.items() if isinstance(exc, cls)), None
    )
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(math.ceil(exc.wait))
    return Response(error_body(status, message, reason), status=status, headers=headers)


# --- authentication ------------------------------------------------------------------------------------


class AdminKeyAuthentication(BaseAuthentication):
    """`x-api-key: <admin key>` acts as the first admin (reference §5.5). A wrong key is a 401."""

    def authenticate(self, request):
        from apikeys.models import AdminApiKey
        from users.models import User

        raw = request.headers.get("x-api-key")
        if raw is None:
            return None
        if not AdminApiKey.matches(raw.strip()):
            raise ApiError(401, "Invalid admin API key", "INVALID_ADMIN_KEY")
        admin = User.objects.filter(role=User.Role.ADMIN, status=User.Status.ACTIVE).order_by("id").first()
        # Without any admin user the key still administers; the stand-in is never saved.
        return admin or User(email="admin-api-key", role=User.Role.ADMIN, is_staff=True), "admin-key"

    def authenticate_header(self, request):
        return "x-api-key"


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` from POST /api/v1/auth/login."""

    def authenticate(self, request):
        from users.tokens import TokenError, user_from_token

        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            return user_from_token(token.strip()), "token"
        except TokenError as exc:
            raise ApiError(401, exc.message, exc.reason)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def is_admin(user) -> bool:
    return bool(user and user.is_active and (user.is_staff or user.is_admin))


class IsAdmin(BasePermission):
    def has_permission(self, request, view):
        if request.user is None:
            raise exceptions.NotAuthenticated("Authentication required: admin session or x-api-key")
        if not is_admin(request.user):
            raise ApiError(403, "Admin access required", "FORBIDDEN")
        return True


class IsUser(BasePermission):
    def has_permission(self, request, view):
        if request.user is None or not request.user.is_active:
            raise exceptions.NotAuthenticated("Authentication required: session or Bearer token")
        return True


class EnvelopeSchema(AutoSchema):
    """The views parse their bodies by hand (exact messages, PATCH semantics): describe them as objects."""

    def get_request_serializer(self):
        return OpenApiTypes.OBJECT if self.method in ("POST", "PUT", "PATCH") else None

    def get_response_serializers(self):
        return OpenApiTypes.OBJECT

    def get_operation_id(self):
        # Class + method is unique; the default collides for list and detail GETs of plain APIViews.
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("View")).lower()
        action = getattr(self.view, "action", "")
        return "_".join(filter(None, [name, action, self.method.lower()]))


class AdminKeyScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.AdminKeyAuthentication"
    name = "adminApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "x-api-key"}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "access_token from POST /api/v1/auth/login"}


class ApiView(APIView):
    parser_classes = [JSONParser]
    schema = EnvelopeSchema()

    def initial(self, request, *args, **kwargs):
        # PostgreSQL refuses NUL in text; a filter like ?search=%00 must be a 400, not a database error.
        if any("\x00" in value for values in request.query_params.lists() for value in values[1]):
            raise ApiError(400, "Invalid request: query parameters must not contain NUL characters")
        super().initial(request, *args, **kwargs)


class UserView(ApiView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsUser]


class AdminView(ApiView):
    authentication_classes = [AdminKeyAuthentication, BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAdmin]


# --- input ---------------------------------------------------------------------------------------------


def parse_id(raw, noun: str) -> int:
    """A database id from a path or body; anything else is a 400 "Invalid <noun> ID"."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit():
        value = int(raw)
    else:
        raise ApiError(400, f"Invalid {noun} ID")
    if not 0 < value <= MAX_DB_ID:
        raise ApiError(400, f"Invalid {noun} ID")
    return value


def get_or_404(queryset, pk, noun: str, reason: str | None = None):
    obj = queryset.filter(pk=parse_id(pk, noun.lower())).first()
    if obj is None:
        raise ApiError(404, f"{noun} not found", reason)
    return obj


def existing_group_ids(ids: list[int], field: str) -> list[int]:
    """The ids as given, once every one names a group; else 404 GROUP_NOT_FOUND naming the first unknown."""
    from groups.models import Group

    found = set(Group.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := [i for i in ids if i not in found]:
        raise ApiError(404, f"{field}: group {missing[0]} not found", "GROUP_NOT_FOUND")
    return ids


class Payload:
    """A JSON object body read field by field. Getters return UNSET for an absent or null field."""

    def __init__(self, data):
        if not isinstance(data, Mapping):  # an empty body parses as {}; `null`, lists, strings are refused
            raise ApiError(400, "Invalid request: the body must be a JSON object")
        self.data = data

    def __contains__(self, name):
        return self.data.get(name) is not None

    def raw(self, name):
        value = self.data.get(name)
        return UNSET if value is None else value

    def _required(self, name, value, required):
        if value is UNSET and required:
            raise ApiError(400, f"{name}: this field is required")
        return value

    def string(self, name, *, required=False, max_length=None, blank=True, choices=None, strip=True):
        value = self._required(name, self.raw(name), required)
        if value is UNSET:
            return value
        if not isinstance(value, str):
            raise ApiError(400, f"{name}: must be a string")
        if "\x00" in value:
            raise ApiError(400, f"{name}: must not contain NUL characters")
        if strip:
            value = value.strip()
        if not blank and not value:
            raise ApiError(400, f"{name}: must not be empty")
        if max_length and len(value) > max_length:
            raise ApiError(400, f"{name}: at most {max_length} characters")
        if choices is not None and value not in choices:
            raise ApiError(400, f"{name}: must be one of {', '.join(choices)}")
        return value

    def integer(self, name, *, required=False, min_value=None, max_value=MAX_INT):
        value = self._required(name, self.raw(name), required)
        if value is UNSET:
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(400, f"{name}: must be an integer")
        return _in_range(name, value, min_value, max_value)

    def money(self, name, *, required=False, min_value=Decimal(0), max_value=MAX_MONEY):
        value = self._required(name, self.raw(name), required)
        if value is UNSET:
            return value
        return clean_decimal(name, value, min_value, max_value)

    def boolean(self, name, *, required=False):
        value = self._required(name, self.raw(name), required)
        if value is UNSET or isinstance(value, bool):
            return value
        raise ApiError(400, f"{name}: must be true or false")

    def obj(self, name):
        value = self.raw(name)
        if value is UNSET or isinstance(value, Mapping):
            return value
        raise ApiError(400, f"{name}: must be an object")

    def id(self, name, noun, *, required=False):
        value = self._required(name, self.raw(name), required)
        return value if value is UNSET else parse_id(value, noun)

    def id_list(self, name, noun):
        value = self.raw(name)
        if value is UNSET:
            return value
        if not isinstance(value, list):
            raise ApiError(400, f"{name}: must be a list of ids")
        return list(dict.fromkeys(parse_id(item, noun) for item in value))

    def str_list(self, name, *, max_length=200):
        value = self.raw(name)
        if value is UNSET:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) and "\x00" not in v for v in value):
            raise ApiError(400, f"{name}: must be a list of strings")
        if any(len(v) > max_length for v in value):
            raise ApiError(400, f"{name}: items of at most {max_length} characters")
        return [v.strip() for v in value if v.strip()]

    def str_map(self, name, *, max_length=200):
        value = self.raw(name)
        if value is UNSET:
            return value
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and "\x00" not in k + v for k, v in value.items()
        ):
            raise ApiError(400, f"{name}: must be an object of strings")
        if any(len(k) > max_length or len(v) > max_length for k, v in value.items()):
            raise ApiError(400, f"{name}: keys and values of at most {max_length} characters")
        return dict(value)


def _in_range(name, value, min_value, max_value):
    if min_value is not None and value < min_value:
        raise ApiError(400, f"{name}: must be >= {min_value}")
    if max_value is not None and value > max_value:
        raise ApiError(400, f"{name}: must be <= {max_value}")
    return value


def clean_decimal(name, value, min_value=Decimal(0), max_value=MAX_MONEY) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ApiError(400, f"{name}: must be a number")
    try:
        amount = to_decimal(value)
    except (ValueError, ArithmeticError):  # ArithmeticError: too many digits to quantize
        raise ApiError(400, f"{name}: must be a finite number of at most {max_value}")
    return _in_range(name, amount, min_value, max_value)


def iso(value):
    """RFC 3339 UTC timestamps in JSON (None stays null)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
