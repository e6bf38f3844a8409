"""The failed-jobs page for admins: what failed, and Retry / Delete."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry

from portal.jobqueue import AppWorker, get_queue, redis_connection


def fail_on_purpose(payment_id: str) -> None:
    """A job that raises, as a gateway outage would."""
    raise ConnectionError(f"Razorpay unreachable while capturing {payment_id}\nretry later")


def succeed(payment_id: str) -> str:
    return payment_id


def run_jobs(app, name: str) -> None:
    with app.app_context():
        connection = redis_connection(app.config["REDIS_URL"])
    worker = AppWorker([Queue(name, connection=connection)], connection=connection)
    worker.app = app
    worker.work(burst=True)


def failed_job(app, name: str = "payment-events", func=fail_on_purpose,
               arg: str = "pay_123") -> str:
    """Enqueue a job on `name` and let a worker fail it; returns its id."""
    with app.app_context():
        job = get_queue(name).enqueue(f"{__name__}.{func.__name__}", arg)
    run_jobs(app, name)
    return job.id


def registry(app, name: str = "payment-events") -> FailedJobRegistry:
    with app.app_context():
        return FailedJobRegistry(queue=Queue(name, connection=redis_connection()))


@pytest.fixture
def admin_client(client, factory):
    client.login(factory.create_admin().email)
    return client


def test_a_job_that_raised_is_listed_with_its_function_arguments_and_error(app, admin_client):
    job_id = failed_job(app)

    page = admin_client.get("/admin/jobs/?queue=payment-events").get_data(as_text=True)

    assert job_id in page
    assert f"{__name__}.fail_on_purpose" in page
    assert "&#39;pay_123&#39;" in page  # the arguments, as repr
    assert "retry later" in page  # the exception's last line
    assert "payment-events (1)" in page


def test_without_a_queue_named_the_first_queue_with_failures_is_shown(app, admin_client):
    job_id = failed_job(app, "notifications")

    page = admin_client.get("/admin/jobs/").get_data(as_text=True)

    assert job_id in page
    assert 'aria-current="page">notifications (1)' in page


def test_retry_puts_the_job_back_on_its_queue(app, admin_client):
    job_id = failed_job(app)

    response = admin_client.post_form(f"/admin/jobs/payment-events/{job_id}/retry")

    assert response.status_code == 303
    assert registry(app).count == 0
    with app.app_context():
        assert get_queue("payment-events").job_ids == [job_id]
    assert "queued again" in admin_client.get(response.headers["Location"]).get_data(
        as_text=True)


def test_delete_forgets_the_job(app, admin_client):
    job_id = failed_job(app)

    response = admin_client.post_form(f"/admin/jobs/payment-events/{job_id}/delete")

    assert response.status_code == 303
    assert registry(app).count == 0
    with app.app_context():
        assert get_queue("payment-events").fetch_job(job_id) is None


def test_retrying_a_job_that_is_gone_says_so(app, admin_client):
    response = admin_client.post_form("/admin/jobs/payment-events/no-such-job/retry",
                                      follow_redirects=True)

    assert response.status_code == 200
    assert "no longer in the failed list" in response.get_data(as_text=True)


def test_an_unknown_queue_is_not_found(admin_client):
    assert admin_client.get("/admin/jobs/?queue=nope").status_code == 404


def test_the_list_is_paginated(app, admin_client, monkeypatch):
    monkeypatch.setattr("portal.admin.jobs.PER_PAGE", 2)
    ids = [failed_job(app, arg=f"pay_{n}") for n in range(3)]

    first = admin_client.get("/admin/jobs/?queue=payment-events").get_data(as_text=True)
    second = admin_client.get("/admin/jobs/?queue=payment-events&page=2").get_data(as_text=True)

    assert "Page 1 of 2" in first
    assert sum(job_id in first for job_id in ids) == 2
    assert sum(job_id in second for job_id in ids) == 1


def test_patients_and_doctors_are_refused_and_visitors_sent_to_log_in(app, client, factory):
    job_id = failed_job(app)
    assert client.get("/admin/jobs/").status_code == 302

    for user in (factory.create_patient(), factory.create_doctor(hours=()).user):
        other = app.test_client()
        other.login(user.email)
        assert other.get("/admin/jobs/").status_code == 403
        assert other.post_form(f"/admin/jobs/payment-events/{job_id}/retry").status_code == 403
    assert registry(app).count == 1


def test_a_job_that_succeeded_is_not_listed(app, admin_client):
    job_id = failed_job(app, func=succeed)

    page = admin_client.get("/admin/jobs/?queue=payment-events").get_data(as_text=True)

    assert job_id not in page
    assert "No failed jobs on payment-events" in page
