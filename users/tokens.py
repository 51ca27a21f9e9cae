"""Bearer tokens of the REST API (POST /api/v1/auth/login).

A token is the user id and a fragment of an HMAC of the password hash, signed and timestamped with
SECRET_KEY (django.core.signing): no table, valid on every host sharing SECRET_KEY, expired after
API_TOKEN_TTL seconds, and revoked by a password change (the hash, hence the fragment, changes).
"""

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "subrelay.api.token"


class TokenError(Exception):
    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message, self.reason = message, reason


def _password_fragment(user) -> str:
    return salted_hmac(SALT, user.password).hexdigest()[:16]


def issue_token(user) -> str:
    return signing.dumps({"uid": user.pk, "pw": _password_fragment(user)}, salt=SALT, compress=True)


def user_from_token(token: str):
    from users.models import User

    if not token:
        raise TokenError("Empty token", "EMPTY_TOKEN")
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.API_TOKEN_TTL)
    except signing.SignatureExpired:
        raise TokenError("Token expired", "TOKEN_EXPIRED")
    except signing.BadSignature:
        raise TokenError("Invalid token", "INVALID_TOKEN")
    if not isinstance(claims, dict) or not isinstance(claims.get("uid"), int):
        raise TokenError("Invalid token", "INVALID_TOKEN")
    user = User.objects.filter(pk=claims["uid"]).first()
    if user is None:
        raise TokenError("User not found", "USER_NOT_FOUND")
    if not constant_time_compare(str(claims.get("pw", "")), _password_fragment(user)):
        raise TokenError("Token revoked", "TOKEN_REVOKED")
    if not user.is_active:
        raise TokenError("User is disabled", "USER_INACTIVE")
    return user
