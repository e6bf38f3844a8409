"""Payment jobs: webhook processing, reconciliation, weekly payouts."""

from __future__ import annotations

from portal.payments import payouts, service


def process_webhook(event_id: str) -> str:
    """Apply one stored Razorpay webhook event (the endpoint answered 2xx already)."""
    return service.process_webhook(event_id)


def reconcile() -> dict:
    """Every minute: settle what lost webhooks or crashes left behind (payments, refunds and
    the doctors' Route transfers)."""
    return service.reconcile()


def compute_payouts() -> int:
    """Mondays: last week's payout per doctor (idempotent per doctor and week)."""
    return payouts.compute_week()
