"""Readiness follows the last successful API contact: a blip is tolerated, a silence longer than max_age is not.

The cut API path itself is drilled against a real API server in tests/drills/test_api_outage.py.
"""

from __future__ import annotations

from payload_operator.adapters.readiness_probe import CHECKS_PER_MAX_AGE, ApiContact


def test_not_ready_before_the_first_contact() -> None:
    contact = ApiContact(max_age=30)
    assert not contact.ready(now=1000.0)
    assert contact.report(1000.0) == {"ready": False, "secondsSinceApiContact": None, "maxAge": 30}


def test_one_failed_check_keeps_it_ready_a_silence_longer_than_max_age_does_not() -> None:
    contact = ApiContact(max_age=30, last_success=1000.0)
    contact.last_error = "GET /apis/payloads.durable-workflow.io/v1alpha1: ConnectError"
    interval = contact.max_age / CHECKS_PER_MAX_AGE
    assert contact.ready(now=1000.0 + interval), "one missed check"
    assert contact.ready(now=1030.0)
    assert not contact.ready(now=1030.5)
    assert contact.report(1030.5) == {
        "ready": False,
        "secondsSinceApiContact": 30.5,
        "maxAge": 30,
        "lastError": "GET /apis/payloads.durable-workflow.io/v1alpha1: ConnectError",
    }
