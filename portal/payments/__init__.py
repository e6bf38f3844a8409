"""Payments through Razorpay: orders, verification, webhooks, refunds, payouts."""
