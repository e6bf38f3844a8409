"""The stand-in's memory: messages, the status changes still to come (each one a status callback
when the message has a StatusCallback URL), and the test controls' pending tricks. One
re-entrant lock guards all of it. Nothing is written to disk: the dev mailbox is the record of
what was sent, and a restarted stand-in starts empty, as a fresh Twilio test account would.
"""

from __future__ import annotations

import itertools
import threading


class Store:
    """Plain dicts kept in creation order; take ``lock`` to read or change anything."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._seq = itertools.count(1)
        self.messages: dict[str, dict] = {}  # sid -> record (see messages.new_record)
        self.events: list[dict] = []  # status changes and their callbacks, in order
        self.fail_next: list[int] = []  # HTTP statuses the next create calls answer
        self.outcome_next: list[dict] = []  # forced outcomes of the next accepted messages

    def next_seq(self) -> int:
        return next(self._seq)

    def reset(self) -> None:
        """Forget every message, pending status change and control trick."""
        with self.lock:
            self.messages.clear()
            self.events.clear()
            self.fail_next.clear()
            self.outcome_next.clear()
