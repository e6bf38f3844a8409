"""Booking: holds, confirmation, cancellation, rescheduling, completion."""
