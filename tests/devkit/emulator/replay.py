"""Replay the captured conversations with the real server against the emulator and list what differs.

A capture (`/work/shared/reference/real-server-samples/exchanges/*.json`) is a conversation file
(`exchanges: [...]`), a single `request`/`response` pair, or the side-by-side comparison
(`steps: [{request, real}]`). Each request is sent to a fresh captured-profile emulator in order, after
the state the real server already held is seeded from the capture itself (namespaces, policies,
workflows, expired runs), so the same requests meet the same world. Answers are compared by status,
`reason` and top-level error `message`, field names and JSON types; per-run values (ids, times, paths,
digests) only by type. Run ids are seeded as captured; page tokens are mapped as they are answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from devkit.dw_emulator import EmulatedServer, RunSpec

EXCHANGES_DIR = Path("/work/shared/reference/real-server-samples/exchanges")
CAPTURED_ROOT = "/var/lib/"  # payload roots in the captures; requests get the test's temp dir instead
ServerFactory = Callable[..., EmulatedServer]

# Facts a capture leaves implicit: the policy a namespace already had before the captured request.
IMPLICIT_POLICIES: dict[str, dict[str, dict[str, Any]]] = {
    # "With a local policy whose root is the server default" (contract §12).
    "workflow-start-local-reference-outside-root": {"orders": {"driver": "local", "enabled": True}},
    "workflow-start-s3-reference-no-server-driver": {
        "s3ns": {"driver": "s3", "enabled": True, "threshold_bytes": 1024, "config": {"bucket": "dw-payloads"}}
    },
}
# Captured answers the emulator does not reproduce, and why (keyed by capture and step).
NOT_REPRODUCED = {
    ("emulator-vs-real", "storage-test-s3-with-disk"): (
        "the rebuilt server lacked the league/flysystem-aws-s3-v3 package, so its s3 disk answered 500"
        ' "Class ... PortableVisibilityConverter not found"; a packaging defect of that rebuild, not behaviour'
    ),
}
# Roles of conversation files (the operator's token is admin unless the capture says otherwise).
FILE_ROLES = {"policy-sync-operator-token-forbidden": "operator"}


@dataclass(frozen=True)
class Exchange:
    """One captured request and the real server's answer."""

    method: str
    path: str
    params: dict[str, Any] | None
    namespace: str | None
    role: str
    version_header: bool
    content_type: str | None
    body: Any
    status: int
    answer: Any
    step: str = ""


def capture_names(directory: Path = EXCHANGES_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.json"))


def load(path: Path) -> list[Exchange]:
    """The exchanges of one capture file, in order."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    role = FILE_ROLES.get(path.stem, "admin")
    if "exchanges" in data:
        return [
            Exchange(
                e["method"], e["path"], e.get("query"), e.get("namespace"), role, True, None,
                e.get("request_body"), e["status"], e.get("response_body"),
            )
            for e in data["exchanges"]
        ]  # fmt: skip
    if "steps" in data:
        return [_step(s["step"], s["request"], s["real"]) for s in data["steps"]]
    request, response = data["request"], data["response"]
    return [
        Exchange(
            request["method"], request["path"], request.get("params"), request.get("namespace"),
            request.get("role") or "admin", request.get("control_plane_version_header", True), None,
            request.get("body"), response["status"], response.get("body"),
        )
    ]  # fmt: skip


def _step(name: str, request: dict[str, Any], real: dict[str, Any]) -> Exchange:
    return Exchange(
        request.get("method", "GET"), request["path"], request.get("params"), request.get("ns"),
        request.get("role") or "admin", request.get("cp", True) is not False, request.get("ctype"),
        request.get("body"), real["status"], real.get("body"), name,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- seeding
def _workflow_items(answer: Any) -> Iterator[dict[str, Any]]:
    """Workflow descriptions in a list, runs or describe answer."""
    if not isinstance(answer, dict):
        return
    for item in answer.get("workflows") or []:
        if isinstance(item, dict) and item.get("workflow_id"):
            yield item
    for item in answer.get("runs") or []:
        if isinstance(item, dict) and item.get("run_id"):
            yield {"workflow_id": answer.get("workflow_id"), **item}
    if answer.get("workflow_id") and answer.get("run_id") and ("status" in answer or "events" in answer):
        yield answer


def _start_blobs(exchanges: list[Exchange]) -> dict[str, str]:
    """Each workflow's inline start payload, as its captured history shows it."""
    blobs: dict[str, str] = {}
    for exchange in exchanges:
        answer = exchange.answer
        if not isinstance(answer, dict):
            continue
        envelope = answer.get("input_envelope")
        if isinstance(envelope, dict) and isinstance(envelope.get("blob"), str):
            blobs.setdefault(str(answer.get("workflow_id")), envelope["blob"])
        for command in answer.get("commands") or []:  # a history export
            if isinstance(command, dict) and isinstance(command.get("payload"), str):
                blobs.setdefault(str((answer.get("workflow") or {}).get("instance_id")), command["payload"])
        for event in answer.get("events") or []:
            command = ((event or {}).get("payload") or {}).get("command") or {}
            if isinstance(command.get("payload"), str):
                blobs.setdefault(str(answer.get("workflow_id")), command["payload"])
    return blobs


class World:
    """Seeds what the real server held, just before the first exchange that shows it."""

    def __init__(self, srv: EmulatedServer, name: str, exchanges: list[Exchange]) -> None:
        self.srv = srv
        self.exchanges = exchanges
        self.blobs = _start_blobs(exchanges)
        created = {
            str((e.body or {}).get("name", "")).lower()
            for e in exchanges
            if e.method == "POST" and e.path == "/api/namespaces"
        }
        missing = {
            str(e.namespace).lower()
            for e in exchanges
            if isinstance(e.answer, dict) and e.answer.get("reason") == "namespace_not_found"
        }
        for namespace in dict.fromkeys(str(e.namespace).lower() for e in exchanges if e.namespace):
            if namespace not in created | missing and srv.namespace(namespace) is None:
                self._add_namespace(namespace)
        for namespace, policy in IMPLICIT_POLICIES.get(name, {}).items():
            srv.set_policy(namespace, policy)

    def _add_namespace(self, namespace: str, shown: dict[str, Any] | None = None) -> None:
        shown = shown or next(
            (
                e.answer
                for e in self.exchanges
                if e.path.lower().startswith(f"/api/namespaces/{namespace}")
                and isinstance(e.answer, dict)
                and e.answer.get("name") == namespace
            ),
            None,
        )
        retention = next(
            (e.answer for e in self.exchanges if e.path == "/api/system/retention" and e.status == 200), None
        )
        days = (shown or retention or {}).get("retention_days") or 30
        self.srv.add_namespace(namespace, description=(shown or {}).get("description"), retention_days=days)
        if shown and shown.get("external_payload_storage"):
            self.srv.set_policy(namespace, _localised(shown["external_payload_storage"], self.srv.local_root))

    def before(self, exchange: Exchange) -> None:
        namespace = str(exchange.namespace or "default").lower()
        if self.srv.namespace(namespace) is None:
            return
        for item in _workflow_items(exchange.answer):
            self._add_workflow(namespace, item)
        if exchange.path == "/api/namespaces" and isinstance(answer := exchange.answer, dict):
            for shown in answer.get("namespaces") or []:
                if self.srv.namespace(shown["name"]) is None:
                    self._add_namespace(shown["name"], shown)
        segments = exchange.path.split("/")  # /api/workflows/{id}/runs/{run}/...
        if exchange.status == 200 and len(segments) > 5 and segments[4] == "runs" and segments[5] != "{run}":
            self._add_workflow(namespace, {"workflow_id": segments[3], "run_id": segments[5]})
        answer = exchange.answer
        if exchange.path == "/api/system/retention" and isinstance(answer, dict):
            days = int(answer.get("retention_days") or 30)
            for run_id in answer.get("expired_run_ids") or []:
                if self.srv.run(namespace, run_id) is None:
                    closed = self.srv.now() - timedelta(days=days + 1)
                    self.srv.add_workflow(namespace, f"expired-{run_id}", [RunSpec(run_id=run_id, closed_at=closed)])

    def _add_workflow(self, namespace: str, item: dict[str, Any]) -> None:
        workflow_id, run_id = str(item["workflow_id"]), str(item["run_id"])
        if self.srv.run(namespace, run_id) is not None:
            return
        blob = self.blobs.get(workflow_id)
        self.srv.add_workflow(
            namespace,
            workflow_id,
            [RunSpec(run_id=run_id, status=str(item.get("status") or "pending"))],
            input=self.srv.inline_payload(blob) if blob else None,
            workflow_type=str(item.get("workflow_type") or "emulated.workflow"),
            task_queue=str(item.get("task_queue") or "default"),
        )


def _params(query: Any) -> dict[str, Any]:
    """Conversation files carry the query string, single captures a mapping."""
    return dict(parse_qsl(query)) if isinstance(query, str) else dict(query or {})


def _localised(value: Any, root: Path) -> Any:
    """Captured payload roots moved under the test's directory (the emulator writes real files)."""
    text = json.dumps(value).replace(CAPTURED_ROOT, f"{root}/")
    return json.loads(text)


# -------------------------------------------------------------------------------------------- comparing
# cluster-info's live counters (queued tasks, connected workers): what they hold depends on the moment.
RUNTIME_COUNTERS = frozenset({"$.task_repair.candidates", "$.worker_fleet"})


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Field names and JSON types everywhere, `reason` values everywhere, list lengths."""
    if path in RUNTIME_COUNTERS:
        return [] if _kind(expected) == _kind(actual) else [f"{path}: {_kind(expected)} != {_kind(actual)}"]
    if isinstance(expected, dict) and "_elided" in expected:  # "top-level keys only"
        have = sorted(actual) if isinstance(actual, dict) else type(actual).__name__
        return [] if have == sorted(expected["keys"]) else [f"{path}: keys {have} != {sorted(expected['keys'])}"]
    if _kind(expected) != _kind(actual):
        return [f"{path}: {_kind(expected)} != {_kind(actual)} ({json.dumps(actual)[:80]})"]
    out: list[str] = []
    if isinstance(expected, dict):
        if set(expected) != set(actual):
            only_real, only_emulator = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
            out.append(f"{path}: only real {only_real}, only emulator {only_emulator}")
        for key in sorted(set(expected) & set(actual)):
            if key == "reason" and expected[key] != actual[key]:
                out.append(f"{path}.reason: {expected[key]!r} != {actual[key]!r}")
            out.extend(differences(expected[key], actual[key], f"{path}.{key}"))
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            out.append(f"{path}: {len(expected)} items != {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            out.extend(differences(e, a, f"{path}[{i}]"))
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


# -------------------------------------------------------------------------------------------- replaying
class Replayer:
    """Sends one capture's requests to an emulator, mapping page tokens as they are answered."""

    def __init__(self, srv: EmulatedServer) -> None:
        self.srv = srv
        self.http = httpx.Client(base_url=srv.url, timeout=30.0)
        self.tokens: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def send(self, exchange: Exchange) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if exchange.role == "bad":
            headers["Authorization"] = "Bearer not-a-token"
        else:
            headers["Authorization"] = f"Bearer {self.srv.token(exchange.role)}"
        if exchange.namespace:
            headers["X-Namespace"] = exchange.namespace
        if exchange.version_header:
            headers["X-Durable-Workflow-Control-Plane-Version"] = "2"
        path = (
            exchange.path.replace("{run}", self._current_run(exchange)) if "{run}" in exchange.path else exchange.path
        )
        params = {k: self.tokens.get(str(v), v) for k, v in _params(exchange.params).items()}
        body = _localised(exchange.body, self.srv.local_root)
        if exchange.content_type and exchange.content_type != "application/json":
            headers["Content-Type"] = exchange.content_type
            return self.http.request(exchange.method, path, headers=headers, params=params, content=b"driver=local")
        if body is None:
            return self.http.request(exchange.method, path, headers=headers, params=params)
        return self.http.request(exchange.method, path, headers=headers, params=params, json=body)

    def _current_run(self, exchange: Exchange) -> str:
        workflow_id = exchange.path.split("/")[3]
        workflow = self.srv.workflow(str(exchange.namespace), workflow_id)
        return workflow.current_run.run_id if workflow is not None else "missing"

    def learn_tokens(self, expected: Any, actual: Any) -> None:
        if isinstance(expected, dict) and isinstance(actual, dict):
            token = expected.get("next_page_token")
            if isinstance(token, str) and isinstance(actual.get("next_page_token"), str):
                self.tokens[token] = actual["next_page_token"]


def replay(path: Path, make_server: ServerFactory) -> list[str]:
    """Every difference between the capture at `path` and the emulator's answers to its requests."""
    exchanges = load(path)
    srv = make_server(generation="A", namespaces=("default",))
    world = World(srv, path.stem, exchanges)
    replayer = Replayer(srv)
    found: list[str] = []
    try:
        for number, exchange in enumerate(exchanges):
            world.before(exchange)
            response = replayer.send(exchange)
            if (path.stem, exchange.step) in NOT_REPRODUCED:
                continue
            where = f"{path.stem}#{number} {exchange.method} {exchange.path}"
            if response.status_code != exchange.status:
                found.append(f"{where}: status {exchange.status} != {response.status_code} ({response.text[:200]})")
                continue
            actual = response.json()
            replayer.learn_tokens(exchange.answer, actual)
            found.extend(f"{where}: {d}" for d in differences(exchange.answer, actual))
            expected = exchange.answer.get("message") if isinstance(exchange.answer, dict) else None
            if exchange.status >= 400 and expected is not None and expected != actual.get("message"):
                found.append(f"{where}: message {expected!r} != {actual.get('message')!r}")
    finally:
        replayer.close()
    return found
