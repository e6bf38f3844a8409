"""Failed background jobs, for admins (DESIGN: "see notification logs and failed jobs").

Endpoints (blueprint `admin_jobs`, under /admin/jobs; admins only, others 403):
  failed   GET  /                              failed jobs of one queue (?queue=, ?page=),
                                               newest first: id, function, arguments,
                                               the exception's last line, when it failed
  retry    POST /<queue>/<job_id>/retry        put the job back on its queue
  delete   POST /<queue>/<job_id>/delete       forget the job

Why our own page and not rq-dashboard mounted behind the admin login: rq-dashboard's pages
run inline scripts, which our Content-Security-Policy (script-src 'self') refuses; it brings
its own look and its own actions (empty a queue, delete every job) that no clinic admin needs;
and it would be one more dependency to keep in step with RQ 3. This page reads RQ's
FailedJobRegistry of each queue in RQ_QUEUES, posts with our CSRF token, and is ~150 lines.

A job's arguments are ids (jobs are enqueued by dotted path with ids only), so showing a
summary of them shows no personal data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from portal.jobqueue import redis_connection
from portal.pagination import Page
from portal.security import admin_required
from portal.web import page_number, render_page

bp = Blueprint("admin_jobs", __name__, url_prefix="/admin/jobs")

PER_PAGE = 25
ARGS_SUMMARY_LENGTH = 80
EXCEPTION_LENGTH = 300


class JobGone(LookupError):
    """The job is no longer in the queue's failed-job registry (retried, deleted, expired)."""


@dataclass(frozen=True)
class FailedJob:
    id: str
    function: str
    args: str
    exception: str
    failed_at: datetime | None
    request_id: str | None


# --- reading and changing the registries (no Flask request in here) ---------------------------


def queue_names() -> list[str]:
    return list(current_app.config["RQ_QUEUES"])


def _registry(queue_name: str) -> FailedJobRegistry:
    return FailedJobRegistry(queue=Queue(queue_name, connection=redis_connection()))


def failed_counts() -> dict[str, int]:
    """How many failed jobs each queue holds."""
    return {name: _registry(name).get_job_count(cleanup=False) for name in queue_names()}


def _summary(job: Job) -> str:
    try:
        parts = [repr(a) for a in job.args] + [f"{k}={v!r}" for k, v in job.kwargs.items()]
    except Exception:  # noqa: BLE001 - undecodable arguments must not break the page
        return "(unreadable)"
    text = ", ".join(parts)
    return text if len(text) <= ARGS_SUMMARY_LENGTH else text[: ARGS_SUMMARY_LENGTH - 1] + "…"


def _last_line(job: Job) -> str:
    result = job.latest_result()
    lines = [line for line in ((result.exc_string if result else "") or "").splitlines()
             if line.strip()]
    last = lines[-1].strip() if lines else "(no exception recorded)"
    return last if len(last) <= EXCEPTION_LENGTH else last[: EXCEPTION_LENGTH - 1] + "…"


def failed_jobs(queue_name: str, page: int, per_page: int = PER_PAGE) -> Page[FailedJob]:
    """One page of a queue's failed jobs, the most recently failed first."""
    registry = _registry(queue_name)
    total = registry.get_job_count(cleanup=False)
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    ids = registry.get_job_ids(start, start + per_page - 1, desc=True, cleanup=False)
    jobs = Job.fetch_many(ids, connection=registry.connection)
    # The registry orders by expiry (failure time + failure_ttl) in whole seconds; within a
    # page, ties are put in failure order too.
    items = [FailedJob(id=job.id, function=job.func_name or "?", args=_summary(job),
                       exception=_last_line(job), failed_at=job.ended_at,
                       request_id=job.meta.get("request_id"))
             for job in jobs if job is not None]
    items.sort(key=lambda job: job.failed_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return Page(items=items, page=page, per_page=per_page, total=total)


def retry_job(queue_name: str, job_id: str) -> None:
    """Put a failed job back at the end of its queue. Raises JobGone."""
    try:
        _registry(queue_name).requeue(job_id)
    except (InvalidJobOperation, NoSuchJobError) as exc:
        raise JobGone(job_id) from exc


def delete_job(queue_name: str, job_id: str) -> None:
    """Remove a failed job from the registry and delete it. Raises JobGone."""
    registry = _registry(queue_name)
    if job_id not in registry:
        raise JobGone(job_id)
    with contextlib.suppress(NoSuchJobError):  # the entry is gone either way
        registry.remove(job_id, delete_job=True)


# --- views -------------------------------------------------------------------------------------


def _known_queue(name: str | None) -> str:
    if name not in queue_names():
        abort(404)
    return name


def _back(queue_name: str) -> str:
    """The list the form came from (a path under /admin/jobs only), else the queue's first page."""
    back = request.form.get("next", "")
    if back.startswith(url_for(".failed")) and not back.startswith("//"):
        return back
    return url_for(".failed", queue=queue_name)


@bp.get("/")
@admin_required
def failed():
    """The failed jobs of one queue (the first queue with failures when none is named)."""
    try:
        counts = failed_counts()
        name = request.args.get("queue") or next(
            (q for q, count in counts.items() if count), queue_names()[0])
        name = _known_queue(name)
        page = failed_jobs(name, page_number(), PER_PAGE)
    except RedisError:
        return render_page("admin/jobs.html", redis_down=True, counts={}, queue=None,
                           page=None), 503
    here = request.full_path if request.query_string else request.path
    return render_page("admin/jobs.html", block="results", redis_down=False, counts=counts,
                       queue=name, page=page, here=here)


@bp.post("/<queue>/<job_id>/retry")
@admin_required
def retry(queue: str, job_id: str):
    """Requeue a failed job; a job that is no longer there is reported, not an error."""
    _known_queue(queue)
    try:
        retry_job(queue, job_id)
    except JobGone:
        flash("That job is no longer in the failed list.", "error")
    else:
        flash(f"Job {job_id} is queued again on {queue}.", "success")
    return redirect(_back(queue), code=303)


@bp.post("/<queue>/<job_id>/delete")
@admin_required
def delete(queue: str, job_id: str):
    """Delete a failed job for good."""
    _known_queue(queue)
    try:
        delete_job(queue, job_id)
    except JobGone:
        flash("That job is no longer in the failed list.", "error")
    else:
        flash(f"Job {job_id} deleted.", "success")
    return redirect(_back(queue), code=303)
