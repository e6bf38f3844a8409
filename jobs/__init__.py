"""RQ entry points: thin functions run by `flask worker` inside the app context.

Each loads what it needs by id, calls one service, and commits. The web code enqueues them by
dotted path ("jobs.availability.extend_windows"), so it never imports this package.
"""
