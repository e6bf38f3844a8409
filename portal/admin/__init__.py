"""Clinic administration: doctors now; payments, refunds and notifications in later issues."""
