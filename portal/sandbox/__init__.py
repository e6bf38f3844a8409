"""Local stand-ins for Razorpay, Twilio and SMTP, speaking their real wire protocols."""
