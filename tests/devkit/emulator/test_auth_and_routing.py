"""Authentication, roles, the control-plane version header, namespace resolution, media types."""

from __future__ import annotations

import httpx
import pytest
from devkit.dw_emulator import EmulatedServer, Tokens

from .conftest import ServerFactory
from .helpers import Api


def test_missing_and_bad_tokens_are_401(api_a: Api) -> None:
    expected = {"reason": "unauthorized", "message": "Invalid or missing authentication token."}
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic adm"}):
        response = api_a.get("/api/namespaces", headers=headers)
        assert response.status_code == 401
        assert response.json() == expected


def test_worker_token_refused_on_control_plane(api_a: Api) -> None:
    response = api_a.get("/api/namespaces", role="worker")
    assert response.status_code == 403
    assert response.json() == {
        "reason": "forbidden",
        "message": "Authenticated role is not allowed to access this endpoint.",
        "role": "worker",
        "allowed_roles": ["operator", "admin"],
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/namespaces/default/external-storage"),
        ("POST", "/api/namespaces"),
        ("POST", "/api/storage/test"),
        ("GET", "/api/system/retention"),
        ("POST", "/api/system/retention/pass"),
    ],
)
def test_admin_routes_refuse_operator(api_a: Api, method: str, path: str) -> None:
    response = api_a.call(method, path, role="operator", json={})
    assert response.status_code == 403
    assert response.json()["allowed_roles"] == ["admin"]


def test_role_check_precedes_version_check_and_version_precedes_namespace(api_a: Api) -> None:
    assert api_a.get("/api/namespaces", role="worker", version=None).status_code == 403
    assert api_a.get("/api/system/retention", namespace="missing", version=None).status_code == 400


def test_unsupported_version(api_a: Api) -> None:
    response = api_a.get("/api/namespaces", version="999")
    assert response.status_code == 400
    body = response.json()
    assert body["reason"] == "unsupported_control_plane_version"
    assert body["requested_version"] == "999"
    assert body["supported_version"] == "2"
    assert "remediation" in body
    assert response.headers["X-Durable-Workflow-Control-Plane-Version"] == "2"


def test_cluster_info_any_role_without_version_but_refuses_explicit_bad_version(api_a: Api) -> None:
    for role in ("admin", "operator", "worker"):
        assert api_a.get("/api/cluster/info", role=role, version=None).status_code == 200
    assert api_a.get("/api/cluster/info", version="3").status_code == 400
    assert api_a.get("/api/cluster/info", role=None).status_code == 401


def test_health_and_ready_need_no_auth(api_a: Api) -> None:
    assert api_a.get("/api/health", role=None, version=None).status_code == 200
    assert api_a.get("/api/ready", role=None, version=None).status_code == 200


def test_unknown_namespace_on_namespaced_route_has_remediation(api_a: Api) -> None:
    response = api_a.get("/api/workflows", namespace="Nope", role="operator")
    assert response.status_code == 404
    body = response.json()
    assert body["reason"] == "namespace_not_found"
    assert body["namespace"] == "nope"
    assert "remediation" in body


def test_namespace_from_query_then_default(gen_a: EmulatedServer, api_a: Api) -> None:
    gen_a.add_namespace("orders")
    assert api_a.get("/api/system/retention?namespace=orders", namespace=None).json()["namespace"] == "orders"
    assert api_a.get("/api/system/retention", namespace=None).json()["namespace"] == "default"
    # the header wins over the query string
    assert api_a.get("/api/system/retention?namespace=orders").json()["namespace"] == "default"


def test_json_body_must_be_json(api_a: Api) -> None:
    response = api_a.put(
        "/api/namespaces/default/external-storage",
        content=b"driver=local",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


def test_unparseable_json_is_an_empty_input(api_a: Api) -> None:
    response = api_a.put(
        "/api/namespaces/default/external-storage",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {"driver": ["The driver field is required."]}


def test_unknown_route_is_json_404(api_a: Api) -> None:
    response = api_a.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"message": "The route api/nothing-here could not be found.", "reason": "not_found"}


def test_shared_token_is_treated_as_worker(make_server: ServerFactory) -> None:
    srv = make_server(tokens=Tokens(admin="same", operator="same", worker="same"))
    response = httpx.get(
        f"{srv.url}/api/namespaces",
        headers={"Authorization": "Bearer same", "X-Durable-Workflow-Control-Plane-Version": "2"},
    )
    assert response.status_code == 403
    assert response.json()["role"] == "worker"


def test_gen_b_refuses_external_storage_in_json_bodies(api_b: Api) -> None:
    body = {"driver": "local", "config": {"external_storage": {"uri": "s3://b/k"}}}
    response = api_b.put_policy("default", body)
    assert response.status_code == 422
    assert response.json()["reason"] == "external_payload_unsupported"
    assert response.json()["schema"] == "durable-workflow.v2.runtime-external-payload-error.v1"


def test_request_log_records_namespace_role_status(gen_a: EmulatedServer, api_a: Api) -> None:
    api_a.get("/api/namespaces", role="operator")
    api_a.put_policy("default", {"driver": "local"})
    api_a.put_policy("default", {"driver": "nope"})
    assert gen_a.count(method="PUT", path_prefix="/api/namespaces") == 2
    assert gen_a.count(method="PUT", status=422) == 1
    assert gen_a.count(role="operator") == 1
    last = gen_a.requests.last(method="PUT")
    assert last is not None
    assert (last.namespace, last.role, last.status) == ("default", "admin", 422)
    assert gen_a.requests.wait_for(count=2, timeout=60, method="PUT")
    assert not gen_a.requests.wait_for(count=3, timeout=0.05, method="PUT")


def test_concurrent_requests_are_all_logged(gen_a: EmulatedServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Authorization": "Bearer op", "X-Durable-Workflow-Control-Plane-Version": "2"}

    def call(_: int) -> int:
        return httpx.get(f"{gen_a.url}/api/namespaces", headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(40)))
    assert statuses == [200] * 40
    assert gen_a.count(method="GET", path="/api/namespaces", role="operator") == 40
