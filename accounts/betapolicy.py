"""The Beta Policy (spec S3): which `anthropic-beta` tokens reach which accounts.

Each rule names a token, an action (pass, filter, block) and a scope (all, oauth, apikey, bedrock). For
a request, the gateway asks `decide` with the client's tokens and the chosen account's scope; the first
rule naming a token decides it. The rules are edited in the admin and through
`GET/PUT /api/v1/admin/settings/beta-policy`, both through `replace`.
"""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import BetaRule
from core.rules import RuleError


@dataclass(frozen=True)
class Decision:
    tokens: list[str]  # what goes upstream
    blocked: BetaRule | None = None  # the rule that refuses the request, if any

    @property
    def message(self) -> str:
        rule = self.blocked
        return (rule.error_message or f"anthropic-beta {rule.beta_token} is not allowed") if rule else ""


def decide(tokens: list[str], scope: str, rules: list[BetaRule]) -> Decision:
    kept = []
    for token in tokens:
        rule = next((r for r in rules if r.beta_token == token and r.applies_to(scope)), None)
        if rule is None or rule.action == BetaRule.Action.PASS:
            kept.append(token)
        elif rule.action == BetaRule.Action.BLOCK:
            return Decision(tokens=kept, blocked=rule)
    return Decision(tokens=kept)


def validate(rules) -> list[dict]:
    """The rules of a PUT body, checked; every refusal names its rule ("rule[2]: invalid scope")."""
    if not isinstance(rules, list):
        raise RuleError("rules: must be a list")
    clean = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise RuleError(f"rule[{index}]: must be an object")
        token = rule.get("beta_token")
        if not isinstance(token, str) or not token.strip():
            raise RuleError(f"rule[{index}]: beta_token is required")
        if len(token.strip()) > 200 or "\x00" in token:
            raise RuleError(f"rule[{index}]: invalid beta_token")
        action, scope = rule.get("action"), rule.get("scope", BetaRule.Scope.ALL)
        if action not in BetaRule.Action.values:
            raise RuleError(f"rule[{index}]: invalid action")
        if scope not in BetaRule.Scope.values:
            raise RuleError(f"rule[{index}]: invalid scope")
        message = rule.get("error_message") or ""
        if not isinstance(message, str) or len(message) > 500 or "\x00" in message:
            raise RuleError(f"rule[{index}]: invalid error_message")
        clean.append({"beta_token": token.strip(), "action": action, "scope": scope, "error_message": message})
    return clean


@transaction.atomic
def replace(rules) -> list[BetaRule]:
    """Make the policy exactly these rules, in this order."""
    clean = validate(rules)
    BetaRule.objects.all().delete()
    return BetaRule.objects.bulk_create(BetaRule(position=i, **rule) for i, rule in enumerate(clean))


def as_json(rules) -> dict:
    return {"rules": [
        {"beta_token": r.beta_token, "action": r.action, "scope": r.scope, "error_message": r.error_message}
        for r in rules
    ]}
