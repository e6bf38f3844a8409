"""The waitlist: patients waiting for a doctor's freed times, offered them in join order."""
