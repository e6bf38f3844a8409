"""Accounts: registration, login, password reset, roles, API tokens."""
