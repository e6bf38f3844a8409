"""Periodic jobs, loaded by `flask cron` (RQ's CronScheduler). Run exactly one cron process;
the jobs it enqueues are idempotent, so a restart or an overlap does no harm."""

from __future__ import annotations

from rq import cron

from jobs import (
    appointments,
    availability,
    events,
    exports,
    notifications,
    payments,
    privacy,
    waitlist,
)

# 00:15 UTC daily: every doctor's 30-day window gains its new last day.
cron.register(availability.extend_windows, "default", cron="15 0 * * *",
              name="extend-slot-windows")

# Every minute: holds whose expiry job never ran. Reads already treat them as free; this
# writes the EXPIRED state, history and event.
cron.register(appointments.sweep_lapsed_holds, "default", interval=60,
              name="sweep-lapsed-holds")

# Every 5 seconds: the outbox relay (events wait in the database while Redis is down).
cron.register(events.relay, "default", interval=5, name="relay-outbox")

# Every minute: payments stuck after a lost webhook (fresh orders a minute after their last
# check), unsent refunds, stored webhooks, and the doctors' Route transfers.
cron.register(payments.reconcile, "default", interval=60, name="reconcile-payments")
# Mondays 01:00 UTC: last week's doctor payout statements (marked paid once settled).
cron.register(payments.compute_payouts, "default", cron="0 1 * * 1", name="weekly-payouts")

# Every minute: due reminders and deliveries whose jobs Redis or a dead worker dropped.
cron.register(notifications.sweep, "default", interval=60, name="sweep-notifications")

# Every minute: waitlist entries past their dates end; offers that lapsed without their job.
cron.register(waitlist.sweep, "default", interval=60, name="sweep-waitlist")

# Hourly: prepared data exports whose download link has expired lose their files.
cron.register(exports.expire, "default", interval=3600, name="expire-data-exports")
# 02:30 UTC daily (08:00 in Kolkata): reasons for visits and copies of messages kept long
# enough are cleared (RETENTION_REASON_DAYS, RETENTION_NOTIFICATION_DAYS).
cron.register(privacy.apply_retention, "default", cron="30 2 * * *", name="apply-retention")
