"""Jinja filters and globals: money, local times, zones."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from flask_login import current_user

from portal.validation import available_timezones


def format_money(paise: int | None, currency: str = "INR") -> str:
    """₹1,234.50 from 123450 paise, with Indian digit grouping."""
    if paise is None:
        return "—"
    rupees, rest = divmod(abs(paise), 100)
    digits = str(rupees)
    if len(digits) > 3:
        head, tail = digits[:-3], digits[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        digits = ",".join([*groups, tail])
    sign = "-" if paise < 0 else ""
    symbol = "₹" if currency == "INR" else f"{currency} "
    return f"{sign}{symbol}{digits}" + (f".{rest:02d}" if rest else "")


def viewer_timezone() -> str:

    if current_user.is_authenticated:
        return current_user.timezone
    # Visitors: the zone their browser reported (a cookie set by static/js/app.js).

    browser = request.cookies.get("tz", "")
    if browser in available_timezones():
        return browser
    return current_app.config["DEFAULT_TIMEZONE"]


def localtime(value: datetime | None, tz: str | None = None, fmt: str = "%a %d %b %Y, %H:%M"
              ) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(tz or viewer_timezone())
    return value.astimezone(zone).strftime(fmt)


def register_filters(app: Flask) -> None:
    app.add_template_filter(format_money, "money")
    app.add_template_filter(localtime, "localtime")
    app.add_template_global(viewer_timezone, "viewer_timezone")
