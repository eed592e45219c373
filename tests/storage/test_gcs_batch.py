"""GCS batch deletes answered per call, including refusals the emulator can never produce.

A fake HTTP adapter stands in for the JSON API: it answers the batch endpoint with a multipart body in
the service's format and the one-item list the adapter uses to tell a missing bucket from gone keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from requests.adapters import BaseAdapter

from payload_operator.adapters.storage.base import BucketNotFound
from payload_operator.adapters.storage.gcs import GcsStore

ENDPOINT = "http://gcs.fake"
REASONS = {403: ("Forbidden", "forbidden"), 404: ("Not Found", "notFound"), 429: ("Too Many Requests", "")}


class FakeJsonApi(BaseAdapter):
    """Batch sub-responses in the order given; list answers with `list_status`."""

    def __init__(self, statuses: list[int], list_status: int = 200) -> None:
        super().__init__()
        self.statuses = statuses
        self.list_status = list_status
        self.batches = 0

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        if "/batch/storage/v1" in (request.url or ""):
            self.batches += 1
            response = self._batch()
        else:
            body = {"items": []} if self.list_status == 200 else _error(self.list_status)
            response = _response(self.list_status, json.dumps(body).encode(), {"Content-Type": "application/json"})
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release."""

    def _batch(self) -> requests.Response:
        parts = []
        for i, status in enumerate(self.statuses):
            text, _ = REASONS.get(status, ("No Content", ""))
            body = "" if status < 300 else json.dumps(_error(status))
            parts.append(
                f"--BOUNDARY\r\nContent-Type: application/http\r\nContent-ID: <response-{i}>\r\n\r\n"
                f"HTTP/1.1 {status} {text}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{body}\r\n"
            )
        payload = "".join(parts) + "--BOUNDARY--"
        return _response(200, payload.encode(), {"Content-Type": "multipart/mixed; boundary=BOUNDARY"})


def _error(status: int) -> dict[str, Any]:
    _, reason = REASONS.get(status, ("", ""))
    errors = [{"reason": reason, "message": "refused"}] if reason else []
    return {"error": {"code": status, "message": "refused", "errors": errors}}


def _response(status: int, content: bytes, headers: Mapping[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = content
    response.headers.update(headers)
    return response


def store_on(api: FakeJsonApi) -> GcsStore:
    session = requests.Session()
    session.mount(ENDPOINT, api)
    client = storage.Client(
        project=None,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        _http=session,
        client_options={"api_endpoint": ENDPOINT},
    )
    return GcsStore(client, "bucket", timeout=(1.0, 1.0))


def test_each_call_of_a_batch_is_judged_on_its_own() -> None:
    api = FakeJsonApi([204, 403, 404, 429])

    result = store_on(api).delete_batch(["gone", "refused", "already-gone", "throttled"])

    assert api.batches == 1
    assert result.deleted == ["gone", "already-gone"]
    assert result.errors == {"refused": "forbidden", "throttled": "HTTP 429"}


def test_not_found_for_every_key_of_a_missing_bucket_is_bucket_not_found() -> None:
    api = FakeJsonApi([404, 404], list_status=404)

    with pytest.raises(BucketNotFound):
        store_on(api).delete_batch(["a", "b"])


def test_more_than_a_hundred_calls_are_refused_before_any_request() -> None:
    api = FakeJsonApi([])

    with pytest.raises(ValueError, match="at most 100"):
        store_on(api).delete_batch([f"k{i}" for i in range(101)])
    assert api.batches == 0
