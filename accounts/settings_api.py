"""Gateway settings over REST for admins (/api/v1/admin/settings/...): the Beta Policy (spec S3)."""

from accounts import betapolicy
from accounts.models import BetaRule
from accounts.serializers import BetaPolicyJson
from core.rest import documented, ok
from users.authentication import AdminView


class BetaPolicyView(AdminView):
    """GET the rules; PUT {"rules": [{beta_token, action: pass|filter|block, scope: all|oauth|apikey|bedrock,
    error_message?}]} replaces them all, in order (refusals name the rule: "rule[0]: invalid scope")."""

    @documented(response=BetaPolicyJson)
    def get(self, request):
        return ok(betapolicy.as_json(BetaRule.objects.all()))

    @documented(request=BetaPolicyJson, response=BetaPolicyJson)
    def put(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        return ok(betapolicy.as_json(betapolicy.replace(body.get("rules"))))
