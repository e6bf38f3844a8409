"""Notifications: email, SMS, web push and in-app, from domain events, with reminders."""
