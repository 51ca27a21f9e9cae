"""Saving an upstream account after an admin changed it (REST API, commands).

The rules: the quota settings must pass `accounts.quota.validate_config`; the credentials the type
needs must be present (Bedrock by auth mode, spec S3; Gemini accounts are API-key accounts); the
runtime columns (quota counters and period starts) are never written by an edit (Account.save() skips
them); after saving, fixed quota windows are normalised (`apply_quota_config`, S1 follow-up) and the scheduler is told.
"""

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext_noop

from accounts import quota
from accounts.models import Account
from core.columns import range_errors
from core.rules import RuleError
from groups.models import GroupAccount, Platform

ACCEPTED_TYPES = tuple(Account.Type.values)  # "bedrock-apikey" is gone for good (S3)


class AccountRuleError(RuleError):
    """An account change that the rules refuse (a 400 naming the field)."""


def platform_type_error(platform: str, account_type: str) -> str | None:
    """Why an account of this type cannot serve this platform, or None (only API keys reach Gemini).
    In English; the admin form shows it translated."""
    if platform == Platform.GEMINI and account_type != Account.Type.APIKEY:
        return gettext_noop("gemini accounts are apikey accounts (a Google AI Studio API key)")
    return None


def validate(account: Account) -> None:
    """Raise AccountRuleError with a message naming the field for the first rule the account breaks."""
    if account.type not in ACCEPTED_TYPES:
        raise AccountRuleError(f"type: must be one of {', '.join(ACCEPTED_TYPES)}")
    if account.type == Account.Type.BEDROCK:
        if account.platform != "anthropic":
            raise AccountRuleError("platform: bedrock accounts belong to the anthropic platform")
        if account.bedrock_auth_mode == Account.BedrockAuth.APIKEY:
            if not account.api_key:
                raise AccountRuleError("api_key: required for a bedrock account in apikey auth mode")
        else:
            if not account.aws_access_key_id:
                raise AccountRuleError("aws_access_key_id: required for a bedrock account in sigv4 auth mode")
            if not account.aws_secret_access_key:
                raise AccountRuleError("aws_secret_access_key: required for a bedrock account in sigv4 auth mode")
    elif wrong_type := platform_type_error(account.platform, account.type):
        raise AccountRuleError(f"type: {wrong_type}")
    elif account.type in (Account.Type.APIKEY, Account.Type.UPSTREAM) and not account.api_key:
        raise AccountRuleError(f"api_key: required for {account.type} accounts")
    elif account.is_oauth and not account.access_token:
        raise AccountRuleError(f"access_token: required for {account.type} accounts")
    errors = {**{f: f"{f}: {m}" for f, m in range_errors(account).items()}, **quota.validate_config(account)}
    if errors:
        raise AccountRuleError("; ".join(errors.values()))


def set_groups(account: Account, group_ids: list[int]) -> None:
    """Make the account a member of exactly these groups; a new membership goes last in its group."""
    GroupAccount.objects.filter(account=account).exclude(group_id__in=group_ids).delete()
    existing = set(GroupAccount.objects.filter(account=account).values_list("group_id", flat=True))
    for group_id in group_ids:
        if group_id in existing:
            continue
        last = GroupAccount.objects.filter(group_id=group_id).aggregate(m=Max("sort_value"))["m"]
        GroupAccount.objects.create(
            group_id=group_id, account=account, priority=account.priority, sort_value=(last or 0) + 1
        )


def save_account(account: Account, group_ids: list[int] | None = None) -> Account:
    """Validate and save an account (new or edited); `group_ids` None leaves memberships alone."""
    validate(account)
    with transaction.atomic():
        account.save()
        if group_ids is not None:
            set_groups(account, group_ids)
        account.apply_quota_config()  # the saves above told the scheduler (scheduling_changed)
    return account
