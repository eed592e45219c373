"""``EmulatedServer``: a real HTTP server on a background thread, plus direct state access."""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlparse

from aiohttp import web

from . import ids
from .app import build_app
from .config import Generation, Profile, Tokens
from .context import EmulatorContext
from .contract import Limits
from .events import RunSpec, build_events
from .faults import Faults
from .payloads import (
    inline_envelope,
    is_runtime_envelope,
    is_storage_envelope,
    sha256_hex,
    storage_envelope,
    storage_reference,
    to_bytes,
    transform,
)
from .registry import row_reference
from .reqlog import RequestLog
from .routes.namespaces import namespace_object
from .state import Namespace, RegistryRow, Run, ServerState, Workflow
from .storage import DriverSwitches, MemoryObjectStore, ObjectStore, StorageError, StorageResolver


class EmulatedServer:
    """A Durable Workflow server emulator (see the package docstring for what is simplified).

    ``start()`` serves on ``127.0.0.1`` from a background thread with its own event loop;
    ``stop()`` closes the listener and every connection; ``start()`` again reuses the same port.
    State survives stop/start.
    """

    def __init__(
        self,
        generation: Generation = "A",
        tokens: Tokens | None = None,
        *,
        namespaces: Sequence[str] = ("default",),
        profile: Profile = "captured",
        discovery: bool | None = None,
        inline_payloads: bool | None = None,
        local_root: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        available_drivers: Sequence[str] = ("s3",),
        shared_delete_hazard: bool | None = None,
        limits: Limits | None = None,
    ) -> None:
        if generation not in ("A", "B"):
            raise ValueError("generation must be 'A' or 'B'")
        if profile not in ("captured", "references"):
            raise ValueError("profile must be 'captured' or 'references'")
        captured = generation == "A" and profile == "captured"
        self._owns_root = local_root is None
        root = Path(local_root) if local_root is not None else Path(tempfile.mkdtemp(prefix="dw-emulator-"))
        self.faults = Faults(on_down_change=self._on_down_change)
        self.drivers = DriverSwitches(available_drivers)
        self.requests = RequestLog()
        self.state = ServerState()
        self.ctx = EmulatorContext(
            generation=generation,
            tokens=tokens or Tokens(),
            state=self.state,
            storage=StorageResolver(
                local_root=root, switches=self.drivers, faults=self.faults, gen_b=generation == "B"
            ),
            faults=self.faults,
            log=self.requests,
            limits=limits or Limits(),
            discovery=not captured if discovery is None else discovery,
            inline_payloads=captured if inline_payloads is None else inline_payloads,
            captured=captured,
            shared_delete_hazard=generation == "A" if shared_delete_hazard is None else shared_delete_hazard,
        )
        for name in namespaces:
            self.add_namespace(name, description="Default namespace" if name == "default" else None)
        self.host = host
        self._port = port
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def generation(self) -> Generation:
        return self.ctx.generation

    @property
    def tokens(self) -> Tokens:
        return self.ctx.tokens

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the emulator has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def local_root(self) -> Path:
        return self.ctx.storage.local_root

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._thread = threading.Thread(target=run, name="dw-emulator", daemon=True)
            self._thread.start()
            ready.wait()
            self._loop = loop
        return self._loop

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        loop = self._ensure_loop()
        if threading.current_thread() is self._thread:
            return asyncio.ensure_future(coro, loop=loop)
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    async def _start_site(self) -> None:
        runner = web.AppRunner(build_app(self.ctx), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, reuse_address=True)
        await site.start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def _stop_site(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def start(self) -> EmulatedServer:
        with self._lock:
            if self._runner is None:
                self._call(self._start_site())
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (state and port are kept)."""
        with self._lock:
            if self._runner is not None:
                self._call(self._stop_site())

    def close(self) -> None:
        """Stop, end the background thread, remove the temporary local root if it was ours."""
        self.stop()
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
        if self._owns_root:
            shutil.rmtree(self.local_root, ignore_errors=True)

    def _on_down_change(self, down: bool) -> None:
        if down:
            self.stop()
        else:
            self.start()

    def __enter__(self) -> EmulatedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ observability
    def count(self, **criteria: Any) -> int:
        """Matching answered requests: ``method=, path_prefix=, path=, status=, role=, namespace=``."""
        return self.requests.count(**criteria)

    def token(self, role: str) -> str:
        value = self.tokens.token_for(role)
        if value is None:
            raise KeyError(f"no token configured for role {role!r}")
        return value

    def headers(self, role: str = "admin", namespace: str = "default") -> dict[str, str]:
        """Headers of a well-behaved control-plane client."""
        return {
            "Authorization": f"Bearer {self.token(role)}",
            "X-Durable-Workflow-Control-Plane-Version": "2",
            "X-Namespace": namespace,
            "Accept": "application/json",
        }

    # ------------------------------------------------------------------ clock
    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (retention cutoffs, upload expiry)."""
        with self.state.lock:
            self.state.clock_offset += timedelta(seconds=seconds)

    def now(self) -> datetime:
        return self.state.now()

    # ------------------------------------------------------------------ namespaces and policies
    def add_namespace(self, name: str, *, description: str | None = None, retention_days: int = 30) -> dict[str, Any]:
        ns = self.state.add_namespace(name, description=description, retention_days=retention_days)
        return namespace_object(self.ctx, ns)

    def namespace(self, name: str) -> Namespace | None:
        return self.state.namespace(name)

    def namespace_json(self, name: str) -> dict[str, Any] | None:
        ns = self.state.namespace(name)
        return namespace_object(self.ctx, ns) if ns is not None else None

    def policy(self, namespace: str) -> dict[str, Any] | None:
        """The stored ``external_payload_storage`` policy (a copy), ``None`` when never set."""
        ns = self._require_ns(namespace)
        return copy.deepcopy(ns.external_payload_storage)

    def set_policy(self, namespace: str, policy: dict[str, Any] | None) -> None:
        """Replace the stored policy directly (no validation), e.g. drift behind the operator's back."""
        ns = self._require_ns(namespace)
        with self.state.lock:
            ns.external_payload_storage = copy.deepcopy(policy) if policy else None
            ns.updated_at = self.state.now()

    def set_retention(self, namespace: str, days: int | None = None, mode: str | None = None) -> None:
        ns = self._require_ns(namespace)
        with self.state.lock:
            if days is not None:
                ns.retention_days = days
            if mode is not None:
                ns.retention_mode = mode

    def storage_status(self, namespace: str) -> str:
        """``unconfigured|disabled|available|driver_unavailable`` as cluster-info would report it."""
        return self.ctx.resolution(namespace.lower()).status

    def _require_ns(self, namespace: str) -> Namespace:
        ns = self.state.namespace(namespace)
        if ns is None:
            raise KeyError(f"namespace {namespace!r} does not exist")
        return ns

    # ------------------------------------------------------------------ objects
    @property
    def objects(self) -> MemoryObjectStore:
        """Default in-memory store behind the simulated s3/gcs/azure/custom drivers."""
        return self.ctx.storage.objects

    def set_object_store(self, driver: str, store: ObjectStore) -> None:
        """Back a provider driver (``s3``, ``gcs``, ``azure``, ``custom``) by another store."""
        self.ctx.storage.set_store(driver, store)

    def _store_for_uri(self, uri: str) -> ObjectStore:
        scheme = uri.partition("://")[0]
        return self.ctx.storage.store_for(scheme if scheme in ("s3", "gcs", "azure") else "custom")

    def object_exists(self, uri: str) -> bool:
        if uri.startswith("file://"):
            return Path(unquote(urlparse(uri).path)).is_file()
        return self._store_for_uri(uri).exists(uri)

    def read_object(self, uri: str) -> bytes:
        if uri.startswith("file://"):
            return Path(unquote(urlparse(uri).path)).read_bytes()
        return self._store_for_uri(uri).get(uri)

    def write_object(self, uri: str, data: bytes | str) -> None:
        """Write raw bytes at a URI (e.g. corrupt an object behind the server's back)."""
        content = to_bytes(data)
        if uri.startswith("file://"):
            path = Path(unquote(urlparse(uri).path))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:
            self._store_for_uri(uri).put(uri, content)

    def delete_object(self, uri: str) -> None:
        if uri.startswith("file://"):
            Path(unquote(urlparse(uri).path)).unlink(missing_ok=True)
        else:
            self._store_for_uri(uri).delete(uri)

    # ------------------------------------------------------------------ payloads
    @staticmethod
    def inline_payload(blob: str, codec: str = "avro") -> dict[str, Any]:
        return inline_envelope(blob, codec)

    @staticmethod
    def reference_envelope(uri: str, data: bytes | str, codec: str = "avro") -> dict[str, Any]:
        """A Gen A ``{codec, external_storage}`` envelope for ``data`` at ``uri`` (nothing is written)."""
        return storage_envelope(storage_reference(uri, to_bytes(data), codec))

    def store_payload(self, namespace: str, blob: bytes | str, codec: str = "avro") -> dict[str, Any]:
        """Write ``blob`` through the namespace's driver, like an offload would.

        Returns the envelope as this generation puts it on the wire: Gen A
        ``{codec, external_storage}``, Gen B ``{codec, external_payload}`` (registered, retained).
        """
        data = to_bytes(blob)
        driver = self.ctx.resolution(namespace.lower()).driver
        if driver is None:
            raise StorageError(f"namespace {namespace!r} has no available external payload driver")
        uri = driver.put(data, sha256_hex(data), codec)
        envelope = storage_envelope(storage_reference(uri, data, codec))
        if self.ctx.gen_b:
            row = self.ctx.registry.register_retained(namespace.lower(), uri, codec, sha256_hex(data), len(data))
            return {"codec": codec, "external_payload": row_reference(row)}
        return envelope

    def upload_payload(self, namespace: str, blob: bytes | str, codec: str = "avro") -> dict[str, Any]:
        """Gen B: an *unclaimed* upload as ``POST /api/external-payloads/v1`` makes; returns the reference."""
        data = to_bytes(blob)
        return self.ctx.registry.upload(namespace.lower(), data, codec, sha256_hex(data))

    def payload_uri(self, namespace: str, envelope: dict[str, Any]) -> str:
        """Provider URI behind an envelope (Gen A reference or Gen B ``ep_`` reference)."""
        if is_storage_envelope(envelope):
            return str(envelope["external_storage"]["uri"])
        if is_runtime_envelope(envelope):
            row = self.state.registry.get(str(envelope["external_payload"]["reference_id"]))
            if row is not None and row.namespace == namespace.lower():
                return row.uri
        raise KeyError("envelope does not reference a known external payload")

    def uploads(self, namespace: str | None = None) -> list[RegistryRow]:
        """Gen B registry rows (``runtime_external_payloads``)."""
        return self.state.registry_rows(namespace=namespace.lower() if namespace else None)

    def claim_payload(self, namespace: str, reference: dict[str, Any]) -> None:
        """Gen B: mark an upload as claimed by a state-bearing request (retained)."""
        self.ctx.registry.claim(namespace.lower(), reference)

    def _internal(self, namespace: str, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return inline_envelope(value)

        def convert(envelope: dict[str, Any], _parent: Any, _key: Any) -> dict[str, Any]:
            if is_runtime_envelope(envelope):
                return self.ctx.registry.claim(namespace, envelope["external_payload"])
            reference = envelope["external_storage"]
            if self.ctx.gen_b:
                self.ctx.registry.register_retained(
                    namespace,
                    str(reference["uri"]),
                    str(reference.get("codec", "avro")),
                    str(reference["sha256"]),
                    int(reference["size_bytes"]),
                )
            return copy.deepcopy(envelope)

        return transform(value, lambda v: is_storage_envelope(v) or is_runtime_envelope(v), convert)

    def _register_owned(self, namespace: str, uri: str) -> None:
        if not self.ctx.gen_b or uri.startswith("ep_") or self.state.registry_row_for(namespace, uri):
            return
        try:
            data = self.read_object(uri)
        except (OSError, StorageError):
            return
        self.ctx.registry.register_retained(namespace, uri, "avro", sha256_hex(data), len(data))

    # ------------------------------------------------------------------ workflows
    def add_workflow(
        self,
        namespace: str,
        workflow_id: str,
        runs: Sequence[RunSpec | str] | None = None,
        *,
        status: str = "completed",
        closed_at: datetime | None = None,
        started_at: datetime | None = None,
        input: dict[str, Any] | str | None = None,
        activity_results: Sequence[dict[str, Any]] = (),
        output: dict[str, Any] | str | None = None,
        events: Sequence[dict[str, Any]] = (),
        owns: Sequence[str] = (),
        workflow_type: str = "emulated.workflow",
        task_queue: str = "default",
    ) -> list[str]:
        """Add a workflow (or more runs to an existing one); returns the new run ids.

        ``runs`` entries are :class:`RunSpec` or run-id strings; keyword arguments are the
        defaults for every run (and describe the single run when ``runs`` is omitted).
        Terminal statuses: completed, failed, cancelled, terminated; others are running.
        """
        namespace = namespace.lower()
        self._require_ns(namespace)
        default = RunSpec(
            status=status,
            closed_at=closed_at,
            started_at=started_at,
            input=input if not isinstance(input, str) else inline_envelope(input),
            activity_results=activity_results,
            output=output if not isinstance(output, str) else inline_envelope(output),
            events=events,
            owns=owns,
        )
        specs = [RunSpec(run_id=s) if isinstance(s, str) else s for s in runs] if runs else [default]
        created: list[str] = []
        with self.state.lock:
            wf = self.state.workflows.setdefault((namespace, workflow_id), Workflow(workflow_id, namespace))
            for spec in specs:
                run = self._build_run(
                    namespace,
                    workflow_id,
                    spec,
                    default,
                    run_number=len(wf.runs) + 1,
                    workflow_type=workflow_type,
                    task_queue=task_queue,
                )
                wf.runs.append(run)
                created.append(run.run_id)
        return created

    def _build_run(
        self,
        namespace: str,
        workflow_id: str,
        spec: RunSpec,
        default: RunSpec,
        *,
        run_number: int,
        workflow_type: str,
        task_queue: str,
    ) -> Run:
        status = spec.status or default.status or "completed"
        terminal = status in ("completed", "failed", "cancelled", "terminated")
        now = self.state.now()
        closed = spec.closed_at or default.closed_at or (now if terminal else None)
        if not terminal:
            closed = None
        started = spec.started_at or default.started_at or ((closed or now) - timedelta(minutes=1))
        merged = RunSpec(
            input=spec.input if spec.input is not None else default.input,
            activity_results=spec.activity_results or default.activity_results,
            output=spec.output if spec.output is not None else default.output,
            events=spec.events or default.events,
        )
        run = Run(
            run_id=spec.run_id or ids.run_id(),
            workflow_id=workflow_id,
            namespace=namespace,
            workflow_type=spec.workflow_type or workflow_type,
            status=status,
            task_queue=spec.task_queue or task_queue,
            started_at=started,
            closed_at=closed,
            run_number=run_number,
            input_envelope=self._internal(namespace, merged.input),
            output_envelope=self._internal(namespace, merged.output) if status == "completed" else None,
            owns=list(spec.owns or default.owns),
            archived=spec.archived,
            command_id=ids.run_id(),
            task_id=ids.run_id(),
        )
        internal = RunSpec(
            activity_results=[self._internal(namespace, r) for r in merged.activity_results],
            events=[self._internal(namespace, e) for e in merged.events],
        )
        run.events = build_events(run, internal)
        for uri in run.owns:
            self._register_owned(namespace, uri)
        return run

    def workflow(self, namespace: str, workflow_id: str) -> Workflow | None:
        return self.state.workflow(namespace.lower(), workflow_id)

    def run(self, namespace: str, run_id: str) -> Run | None:
        return self.state.run(namespace.lower(), run_id)

    def run_ids(self, namespace: str) -> list[str]:
        return [r.run_id for wf in self.state.workflows_in(namespace.lower()) for r in wf.runs]

    def set_run_owns(self, namespace: str, run_id: str, uris: Sequence[str]) -> None:
        """Declare the object URIs (or ``ep_`` ids) a run owns outside its history."""
        run = self.run(namespace, run_id)
        if run is None:
            raise KeyError(f"run {run_id!r} not found in {namespace!r}")
        with self.state.lock:
            run.owns = list(uris)
        for uri in run.owns:
            self._register_owned(namespace.lower(), uri)

    def owned_uris(self, namespace: str, run_id: str) -> list[str]:
        """Every object URI the run owns (history references + ``owns``)."""
        from .retention import run_uris

        run = self.run(namespace, run_id)
        if run is None:
            raise KeyError(f"run {run_id!r} not found in {namespace!r}")
        return run_uris(self.ctx, run)
