"""Retrying a failed charge (the admin's "Retry" action): the kept request through the one charge
transaction again. It stays idempotent by request id, so a charge that went through meanwhile is not
taken twice; a retry that fails again keeps the charge open with the new error."""

from django.utils import timezone

from billing import charge, settlement
from billing.models import FailedCharge, UsageLog


def retry(failed: FailedCharge) -> bool:
    """True when the charge is now applied (or was already)."""
    if failed.resolved_at is not None:
        return True
    req = settlement.from_payload(failed.payload)
    try:
        entry = charge.charge(req)
    except Exception as exc:
        FailedCharge.objects.filter(pk=failed.pk).update(
            attempts=failed.attempts + 1, error=settlement.error_text(exc)[:4000])
        return False
    if entry is None:  # charged meanwhile (by request id): nothing more to take
        entry = UsageLog.objects.filter(request_id=req.request_id, api_key_id=req.api_key_id).first()
    FailedCharge.objects.filter(pk=failed.pk).update(
        resolved_at=timezone.now(), usage_log=entry, attempts=failed.attempts + 1)
    return True


def open_count() -> int:
    return FailedCharge.objects.filter(resolved_at__isnull=True).count()
