"""Which domain reacts to which event: the outbox's consumers, by event type.

Cross-domain reactions go through events, never direct calls (DESIGN.md): a CANCELLED
appointment refunds through payments and notifies through notifications. Each consumer runs
once per event (`portal.events.consume`); the relay publishes events as
`jobs.events.dispatch` jobs, which call `dispatch` here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from portal import events
from portal.events import OutboxEvent
from portal.notifications.reactions import (
    on_appointment_event,
    on_payment_event,
    on_person_event,
)
from portal.payments.route import on_appointment_outcome, on_payment_completed, on_refund_completed
from portal.payments.service import refund_for_cancelled_event
from portal.waitlist.service import on_event as offer_to_waitlist

Handler = Callable[[OutboxEvent], None]

# What each event says to whom is the table in portal/notifications/reactions.py.
NOTIFY_APPOINTMENT = ("notifications.appointment", on_appointment_event)
NOTIFY_PAYMENT = ("notifications.payment", on_payment_event)
NOTIFY_PERSON = ("notifications.person", on_person_event)
REFUND_ON_CANCEL = ("payments.refund-on-cancel", refund_for_cancelled_event)
# The doctor's share through Razorpay Route (portal/payments/route.py): transferred on hold when
# the money is captured, released or kept by the visit's outcome, reversed with refunds.
TRANSFER_SHARE = ("payments.route-transfer", on_payment_completed)
SETTLE_SHARE = ("payments.route-outcome", on_appointment_outcome)
REVERSE_SHARE = ("payments.route-reverse", on_refund_completed)
# A freed or new slot goes to whoever waits for it.
OFFER_TO_WAITLIST = ("waitlist.offer", offer_to_waitlist)

# event type -> [(consumer name, handler)]
CONSUMERS: dict[str, list[tuple[str, Handler]]] = {
    "RESERVED": [NOTIFY_APPOINTMENT],
    "CONFIRMED": [NOTIFY_APPOINTMENT],
    # The refund first: the doctor's share of a cancellation waits for it.
    "CANCELLED": [REFUND_ON_CANCEL, NOTIFY_APPOINTMENT, OFFER_TO_WAITLIST, SETTLE_SHARE],
    "RESCHEDULED": [NOTIFY_APPOINTMENT, OFFER_TO_WAITLIST],
    "EXPIRED": [OFFER_TO_WAITLIST],
    "SLOTS_OPENED": [OFFER_TO_WAITLIST],
    "WAITLIST_OFFERED": [NOTIFY_PERSON],
    "WAITLIST_GONE": [NOTIFY_PERSON],
    "RUNNING_LATE": [NOTIFY_PERSON],
    "COMPLETED": [SETTLE_SHARE],
    "NO_SHOW": [SETTLE_SHARE],
    "PAYMENT_COMPLETED": [NOTIFY_PAYMENT, TRANSFER_SHARE],
    "PAYMENT_FAILED": [NOTIFY_PAYMENT],
    "REFUND_INITIATED": [NOTIFY_PAYMENT],
    "REFUND_COMPLETED": [NOTIFY_PAYMENT, REVERSE_SHARE],
    "PAYMENT_LINK_SENT": [NOTIFY_PAYMENT],  # the desk's payment link, by SMS and email
}


def dispatch(event_id: uuid.UUID) -> int:
    """Run each consumer of this event that has not run yet; returns how many ran."""
    event = events.get_event(event_id)
    if event is None:
        return 0
    return sum(events.consume(event_id, name, handler)
               for name, handler in CONSUMERS.get(event.event_type, []))
