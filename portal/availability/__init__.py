"""Doctor availability: weekly schedules, overrides, blocks and the slots they produce."""
