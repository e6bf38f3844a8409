"""The waiting-room queue: tokens per doctor per day, the order, the pace, running late."""
