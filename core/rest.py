"""The management REST API's plumbing: the envelope, errors, pagination, permissions and the base view.

Every /api/v1/ answer has the reference's envelope so scripts written for sub2api keep working:
success `{"code":0,"message":"success","data":...}`, pages `data={items,total,page,page_size,pages}`,
errors `{"code":<http status>,"message":"...","reason":"<REASON>"}` (reason optional).
Bad input is always a 400 naming the field, never a 500. Authentication lives with the users
(`users.authentication`), which own logins and tokens.
"""

import math
import re
from collections.abc import Callable, Mapping

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.rules import RuleError

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100


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
    if isinstance(exc, RuleError):
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


class ApiView(APIView):
    parser_classes = [JSONParser]
    schema = EnvelopeSchema()

    def initial(self, request, *args, **kwargs):
        # PostgreSQL refuses NUL in text; a filter like ?search=%00 must be a 400, not a database error.
        if any("\x00" in value for values in request.query_params.lists() for value in values[1]):
            raise ApiError(400, "Invalid request: query parameters must not contain NUL characters")
        super().initial(request, *args, **kwargs)
