"""The Beta Policy's rule on plain data (accounts.betapolicy): first rule naming a token decides, scopes."""

from accounts.betapolicy import decide
from accounts.models import BetaRule


def rule(token, action, scope="all"):
    return BetaRule(beta_token=token, action=action, scope=scope)


def test_filter_drops_block_refuses_pass_keeps():
    rules = [rule("a", "filter"), rule("b", "block"), rule("c", "pass")]
    assert decide(["a", "c", "d"], "apikey", rules).tokens == ["c", "d"]
    blocked = decide(["c", "b"], "apikey", rules)
    assert blocked.blocked is rules[1] and blocked.message == "anthropic-beta b is not allowed"


def test_scopes_s3_8():
    block_apikey = [rule("x", "block", "apikey")]
    assert decide(["x"], "apikey", block_apikey).blocked is not None
    assert decide(["x"], "bedrock", block_apikey).blocked is None  # apikey no longer covers Bedrock
    assert decide(["x"], "oauth", block_apikey).blocked is None
    block_bedrock = [rule("x", "block", "bedrock")]
    assert decide(["x"], "bedrock", block_bedrock).blocked is not None
    assert decide(["x"], "apikey", block_bedrock).blocked is None
    assert decide(["x"], "oauth", [rule("x", "block", "all")]).blocked is not None


def test_the_first_rule_naming_a_token_decides():
    rules = [rule("x", "pass", "oauth"), rule("x", "block", "all")]
    assert decide(["x"], "oauth", rules).blocked is None
    assert decide(["x"], "apikey", rules).blocked is not None


def test_an_unknown_scope_matches_every_account():
    assert decide(["x"], "bedrock", [rule("x", "filter", "aws")]).tokens == []
