"""JSON shapes of the notifications API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from portal.api import ApiModel

ChannelName = Literal["EMAIL", "SMS", "PUSH", "IN_APP"]


class SendIn(ApiModel):
    user_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)
    title: str = Field(min_length=1, max_length=150)
    message: str = Field(min_length=1, max_length=1000)
    channels: list[ChannelName] = Field(default_factory=lambda: ["IN_APP", "EMAIL"],
                                        min_length=1)


class SendOut(BaseModel):
    notifications: int = Field(description="Notifications recorded (one per user and channel)")


class NotificationOut(BaseModel):
    id: uuid.UUID
    type: str
    channel: str
    status: str
    subject: str
    body: str
    link: str | None
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


class NotificationList(BaseModel):
    items: list[NotificationOut]
    unread: int


class ListQuery(BaseModel):
    channel: ChannelName | None = None
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=100_000)


class PreferencesOut(BaseModel):
    user_id: uuid.UUID
    language: str
    reminder_offsets: list[int] = Field(description="Minutes before the appointment")
    channels: dict[str, dict[str, bool]] = Field(
        description="channel -> notification type -> on/off; anything missing is on")


class PreferencesIn(ApiModel):
    language: Literal["en", "hi"] | None = None
    reminder_offsets: list[int] | None = Field(default=None, max_length=5)
    channels: dict[str, dict[str, bool]] | None = None


class DeviceIn(ApiModel):
    kind: Literal["WEBPUSH", "FCM"] = "WEBPUSH"
    token: str = Field(min_length=1, max_length=600,
                       description="Web Push endpoint URL, or the app's FCM token")
    p256dh: str | None = Field(default=None, max_length=200)
    auth: str | None = Field(default=None, max_length=100)


class DeviceOut(BaseModel):
    id: uuid.UUID
    kind: str
    token: str
    created_at: datetime
