"""Privacy: who read whose records, taking one's data away, erasure, consents, retention."""
