"""Who is calling the REST API: a login token, a session, or the admin API key; and the two base views
(user endpoints, admin endpoints) that combine them with the envelope of `core.rest`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from core.rest import ApiError, ApiView, IsAdmin, IsUser


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


class AdminKeyScheme(OpenApiAuthenticationExtension):
    target_class = "users.authentication.AdminKeyAuthentication"
    name = "adminApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "x-api-key"}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "users.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "access_token from POST /api/v1/auth/login"}


class UserView(ApiView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsUser]


class AdminView(ApiView):
    authentication_classes = [AdminKeyAuthentication, BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAdmin]
