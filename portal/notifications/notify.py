"""Making notifications: one `notification_logs` row per enabled channel, then a delivery job.

None is lost (invariant 4): the row is committed before its job is queued, a row is unique
per cause, user and channel, and the delivery sweeper queues again whatever Redis dropped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal.auth.models import User
from portal.clock import utcnow
from portal.extensions import db
from portal.jobqueue import get_queue
from portal.notifications.devices import active_devices
from portal.notifications.models import Channel, DeliveryStatus, NotificationLog, NotificationType
from portal.notifications.preferences import channel_enabled, preferences_for
from portal.notifications.templates import message_template, render_message
from portal.transactions import write

log = logging.getLogger(__name__)


def notify(user: User, kind: NotificationType, context: dict[str, Any], dedupe_base: str, *,
           link: str | None = None, only: set[Channel] | None = None) -> list[NotificationLog]:
    """Record one notification per enabled channel and queue the deliveries.

    `dedupe_base` names the cause (an event id, a reminder id): running this again for the
    same cause adds nothing. In-app notifications are "sent" by being recorded. Call it
    outside a `write()`: each row commits on its own, so its delivery job finds it.
    """
    if not user.active:
        return []  # deactivated or erased: nobody to tell, no address to keep
    prefs = preferences_for(user.id)
    context = {"clinic_name": current_app.config["CLINIC_NAME"], **context}
    made: list[NotificationLog] = []
    for channel in Channel:
        if only is not None and channel not in only:
            continue
        if not channel_enabled(prefs, channel.value, kind.value):
            continue
        template = message_template(kind.value, channel.value, prefs.language)
        recipient = _recipient(user, channel)
        if template is None or recipient is None:
            continue
        # Minimum necessary: SMS and push never name the doctor, specialty or a reason; an
        # email only when its template allows. Only what the message may know is stored.
        rendered, allowed = render_message(template, channel.value, context)
        try:
            with write():
                row = NotificationLog(
                    user_id=user.id, type=kind.value, channel=channel.value,
                    dedupe_key=f"{dedupe_base}:{user.id}:{channel.value}"[:200],
                    recipient=recipient, subject=rendered.subject[:200], body=rendered.text,
                    context=_jsonable(allowed), link=link, created_at=utcnow())
                if channel == Channel.IN_APP:
                    row.status, row.sent_at = DeliveryStatus.SENT.value, utcnow()
                db.session.add(row)
        except IntegrityError:  # this cause already notified this user on this channel
            continue
        made.append(row)
        if channel != Channel.IN_APP:
            enqueue_delivery(row.id)
    return made


def _recipient(user: User, channel: Channel) -> str | None:
    """The address on this channel, or None when the user has none."""
    if channel == Channel.EMAIL:
        return user.email
    if channel == Channel.SMS:
        return user.phone or None
    if channel == Channel.PUSH:
        return "devices" if active_devices(user.id) else None
    return "in-app"


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if not isinstance(v, (str, int, float, bool, type(None))) else v)
            for k, v in context.items()}


def enqueue_delivery(log_id: uuid.UUID, at: datetime | None = None) -> None:
    """Queue a delivery; without Redis the sweeper finds the PENDING row later."""
    try:
        queue = get_queue("notifications")
        if at is None:
            # Ahead of queued reminder jobs: a notification already made should not wait
            # behind the ones still to be made (measured in bench/reminders.py).
            queue.enqueue("jobs.notifications.deliver", str(log_id), at_front=True)
        else:
            queue.enqueue_at(at, "jobs.notifications.deliver", str(log_id))
    except Exception:  # noqa: BLE001 - Redis down: the row waits for the sweeper
        log.warning("could not queue notification %s; the sweeper will", log_id)
