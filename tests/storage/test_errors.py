"""Provider exceptions become the operator's error classes with messages rebuilt from codes only.

The provider exceptions here carry a credential in their own text, as real ones can (signed headers,
connection strings); the translated error, printed with its traceback, must not show it.
"""

from __future__ import annotations

import traceback
from typing import Any, cast

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from google.api_core.exceptions import Forbidden, NotFound, RetryError, TooManyRequests
from google.auth.exceptions import RefreshError

from payload_operator.adapters.storage import azure, errors, gcs, s3
from payload_operator.adapters.storage.base import (
    BucketNotFound,
    StorageAccessDenied,
    StorageError,
    StorageThrottled,
    StorageUnreachable,
)

SECRET = "AccountKey=c2VjcmV0LXZhbHVl;sig=s3cr3t"
ENDPOINT = f"https://user:{SECRET}@storage.example:8443/account?{SECRET}"


def raised_through_translation(exc: Exception, translate: errors.Translator) -> BaseException:
    try:
        with errors.translated(translate):
            raise exc
    except BaseException as mapped:
        return mapped
    raise AssertionError("nothing raised")


def printed(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


@pytest.mark.parametrize(
    ("status", "code", "key", "expected"),
    [
        (404, "NoSuchBucket", "k", BucketNotFound),
        (404, "ContainerNotFound", None, BucketNotFound),
        (404, None, None, BucketNotFound),
        (404, "NoSuchKey", "k", FileNotFoundError),
        (404, "BlobNotFound", "k", FileNotFoundError),
        (403, "AccessDenied", None, StorageAccessDenied),
        (403, "SignatureDoesNotMatch", "k", StorageAccessDenied),
        (401, None, None, StorageAccessDenied),
        (400, "InvalidAccessKeyId", None, StorageAccessDenied),
        (503, "SlowDown", "k", StorageThrottled),
        (429, None, None, StorageThrottled),
        (500, "ServerBusy", None, StorageThrottled),
        (500, "InternalError", None, StorageError),
        (None, None, None, StorageError),
    ],
)
def test_responses_are_classified(status: int | None, code: str | None, key: str | None, expected: type) -> None:
    assert type(errors.from_response("P", "op", status, code, key)) is expected


def test_a_missing_object_is_named_by_its_key() -> None:
    err = errors.from_response("P", "read", 404, "NoSuchKey", "avro/ab/abc")
    assert isinstance(err, FileNotFoundError)
    assert err.filename == "avro/ab/abc"


def test_codes_are_reduced_to_identifiers() -> None:
    assert errors.error_code("Access Denied <x>\n" + "A" * 100) == "AccessDeniedx" + "A" * 51
    assert errors.error_code(None) == ""


def test_endpoints_are_shown_without_user_info_path_or_query() -> None:
    assert errors.safe_endpoint(ENDPOINT) == "https://storage.example:8443"
    assert errors.safe_endpoint("") == "the default endpoint"


def s3_translate(exc: Exception) -> Exception | None:
    return s3.translate(exc, "list", None, ENDPOINT)


def gcs_translate(exc: Exception) -> Exception | None:
    return gcs.translate(exc, "list", None, ENDPOINT)


def azure_translate(exc: Exception) -> Exception | None:
    return azure.translate(exc, "list", None, ENDPOINT)


def s3_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": SECRET}, "ResponseMetadata": {"HTTPStatusCode": status}}, "op"
    )


def made(cls: Any, *args: Any, **kwargs: Any) -> Exception:
    """An exception of a class google-api-core leaves untyped."""
    return cast("Exception", cls(*args, **kwargs))


def azure_error(status: int, code: str) -> HttpResponseError:
    err = HttpResponseError(message=f"refused, {SECRET}")
    err.status_code = status
    err.error_code = code  # type: ignore[attr-defined]
    return err


@pytest.mark.parametrize(
    ("exc", "translate", "expected"),
    [
        (s3_error(403, "SignatureDoesNotMatch"), s3_translate, StorageAccessDenied),
        (s3_error(503, "SlowDown"), s3_translate, StorageThrottled),
        (EndpointConnectionError(endpoint_url=ENDPOINT), s3_translate, StorageUnreachable),
        (ReadTimeoutError(endpoint_url=ENDPOINT), s3_translate, StorageUnreachable),
        (NoCredentialsError(), s3_translate, StorageAccessDenied),
        (
            made(Forbidden, SECRET, errors=[{"reason": "forbidden", "message": SECRET}]),
            gcs_translate,
            StorageAccessDenied,
        ),
        (made(TooManyRequests, SECRET), gcs_translate, StorageThrottled),
        (made(NotFound, SECRET), gcs_translate, BucketNotFound),
        (made(RetryError, SECRET, cause=requests.ConnectionError(SECRET)), gcs_translate, StorageUnreachable),
        (made(RefreshError, SECRET), gcs_translate, StorageAccessDenied),
        (azure_error(403, "AuthorizationFailure"), azure_translate, StorageAccessDenied),
        (azure_error(404, "ContainerNotFound"), azure_translate, BucketNotFound),
        (azure_error(503, "ServerBusy"), azure_translate, StorageThrottled),
        (ServiceRequestError(SECRET), azure_translate, StorageUnreachable),
        (ClientAuthenticationError(SECRET), azure_translate, StorageAccessDenied),
    ],
)
def test_provider_errors_translate_without_their_text(
    exc: Exception, translate: errors.Translator, expected: type
) -> None:
    mapped = raised_through_translation(exc, translate)

    assert type(mapped) is expected
    assert "s3cr3t" not in printed(mapped)
    assert "c2VjcmV0LXZhbHVl" not in printed(mapped)


def test_an_unreachable_error_names_the_host() -> None:
    mapped = raised_through_translation(EndpointConnectionError(endpoint_url=ENDPOINT), s3_translate)
    assert "https://storage.example:8443" in str(mapped)
    assert "EndpointConnectionError" in str(mapped)


def test_non_provider_errors_pass_unchanged() -> None:
    original = KeyError("not ours")
    assert raised_through_translation(original, s3_translate) is original
    assert raised_through_translation(original, gcs_translate) is original
    assert raised_through_translation(original, azure_translate) is original
