"""The management REST API's plumbing: the envelope, errors, pagination, permissions and the base view.

Every /api/v1/ answer has the reference's envelope so scripts written for sub2api keep working:
success `{"code":0,"message":"success","data":...}`, pages `data={items,total,page,page_size,pages}`,
errors `{"code":<http status>,"message":"...","reason":"<REASON>"}` (reason optional).
Bad input is always a 400 naming the field, never a 500. Authentication lives with the users
(`users.authentication`), which own logins and tokens.
"""

import json
import math
import re
from collections.abc import Callable, Mapping
from functools import cache

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.rules import RuleError

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
MAX_JSON_DEPTH = 32  # the deepest body the API reads is 3 levels (model_routing); Python recurses per level
MAX_DB_ID = 2**63 - 1


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


def page(request, queryset, present: Callable | type[serializers.BaseSerializer]) -> Response:
    """One page of `queryset` (already ordered), each row through `present` (a serializer or a function)."""
    number = _page_param(request, "page", 1)
    size = min(_page_param(request, "page_size", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    total = queryset.count()
    rows = queryset[(number - 1) * size : number * size] if (number - 1) * size < total else []
    if isinstance(present, type) and issubclass(present, serializers.BaseSerializer):
        items = present(rows, many=True, context={"request": request}).data
    else:
        items = [present(row) for row in rows]
    return ok({
        "items": items,
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


class JsonBodyParser(JSONParser):
    """JSON bodies the rest of the code can hold: nested at most MAX_JSON_DEPTH deep (Python's parser
    and every walk over the data recurse per level), and no lone surrogate in any string or key (it
    cannot be encoded, so no database stores it). Anything else is a 400 ParseError, before a view or a
    serializer walks the body. NUL characters are refused by the fields that store strings, which name
    themselves (core.serializers)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(stream.read().decode(encoding), parse_constant=_refuse_constant)
        except RecursionError:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}")
        _check_json(data)
        return data


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _check_json(data) -> None:
    """Walk the document without recursion: depth, then the text of every string and key."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key)
                pending.append((item, depth + 1))
        elif isinstance(value, str):
            _check_text(value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise exceptions.ParseError("strings must not contain lone surrogates (invalid UTF-16)")


def _messages(detail, path: str = "") -> list[str]:
    """DRF's error detail flattened to "field: message" lines; nested fields as a.b and a[1].b."""
    if isinstance(detail, Mapping):
        lines = []
        for key, value in detail.items():
            if key == "non_field_errors":
                lines += _messages(value, path)
            elif isinstance(key, int):
                lines += _messages(value, f"{path}[{key}]")
            else:
                lines += _messages(value, f"{path}.{key}" if path else str(key))
        return lines
    if isinstance(detail, list | tuple):
        if all(isinstance(item, str) for item in detail):
            return [f"{path}: {item}" if path else str(item) for item in detail]
        return [line for index, item in enumerate(detail) if item for line in _messages(item, f"{path}[{index}]")]
    return [f"{path}: {detail}" if path else str(detail)]


def error_message(detail) -> str:
    """One readable line from DRF's error detail (str, list or {field: [messages]})."""
    return "; ".join(_messages(detail))


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
    message = error_message(exc.detail)
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


# --- the schema: every answer in its envelope ------------------------------------------------------


class ErrorEnvelope(serializers.Serializer):
    code = serializers.IntegerField(help_text="the HTTP status")
    message = serializers.CharField()
    reason = serializers.CharField(required=False, help_text="machine-readable, UPPER_SNAKE")


ERROR_TEXTS = {
    400: "Invalid input; the message names the field",
    401: "Not authenticated",
    403: "Not allowed (admin endpoint, or a session without CSRF token)",
    404: "Not found",
    409: "Conflicts with an existing object",
    429: "Too many requests; see Retry-After",
}


class Message(serializers.Serializer):
    message = serializers.CharField()


@cache
def envelope(data: type | None, *, many: bool = False, paged: bool = False, name: str = "") -> type:
    """The serializer class documenting `{"code":0,"message":"success","data":...}` around `data`."""
    name = name or (data.__name__ if data else "Empty")
    if paged:
        item = data
        data = type(f"{name}Page", (serializers.Serializer,), {
            "items": item(many=True), "total": serializers.IntegerField(), "page": serializers.IntegerField(),
            "page_size": serializers.IntegerField(), "pages": serializers.IntegerField(),
        })
    fields = {"code": serializers.IntegerField(help_text="0"), "message": serializers.CharField()}
    if data is not None:
        fields["data"] = data(many=many)
    suffix = "List" if many else ""
    return type(f"{name}{suffix}{'Page' if paged else ''}Envelope", (serializers.Serializer,), fields)


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="1-based page number (at most 1000000)"),
    OpenApiParameter(
        "page_size", int, description=f"rows per page (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE})"
    ),
]


def documented(*, request=None, response=None, many=False, paged=False, errors=(), parameters=(), **kwargs):
    """extend_schema for an envelope API method: the 200 envelope of `response` (a serializer class),
    the error envelopes of `errors` (400/401/403/404 are added by EnvelopeSchema where they apply)."""
    responses = {200: envelope(response, many=many, paged=paged)}
    responses.update({code: OpenApiResponse(ErrorEnvelope, description=ERROR_TEXTS[code]) for code in errors})
    return extend_schema(
        request=request, responses=responses,
        parameters=[*(PAGE_PARAMETERS if paged else ()), *parameters], **kwargs,
    )


class EnvelopeSchema(AutoSchema):
    """Adds the error answers every view can give: 400 (any bad input, even a NUL in a query), 401 and
    403 where a login is needed, 404 where the path names an object; path ids are integers."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = [400]
        if any(issubclass(p, (IsUser, IsAdmin)) for p in self.view.permission_classes):
            codes += [401, 403]
        if "{id}" in self.path or "{pk}" in self.path:
            codes.append(404)
        for code in codes:
            if str(code) not in responses:
                error = OpenApiResponse(ErrorEnvelope, description=ERROR_TEXTS[code])
                responses[str(code)] = self._get_response_for_code(error, str(code), direction=direction)
        return dict(sorted(responses.items()))

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] in ("id", "pk"):
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_DB_ID}
        return parameters

    def get_operation_id(self):
        # Class + method is unique; the default collides for list and detail GETs of plain APIViews.
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("View")).lower()
        action = getattr(self.view, "action", "")
        return "_".join(filter(None, [name, action, self.method.lower()]))


class ApiView(APIView):
    parser_classes = [JsonBodyParser]
    schema = EnvelopeSchema()

    def initial(self, request, *args, **kwargs):
        # PostgreSQL refuses NUL in text; a filter like ?search=%00 must be a 400, not a database error.
        if any("\x00" in value for values in request.query_params.lists() for value in values[1]):
            raise ApiError(400, "Invalid request: query parameters must not contain NUL characters")
        super().initial(request, *args, **kwargs)
