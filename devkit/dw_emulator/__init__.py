"""Emulator of the Durable Workflow server's HTTP contract, for tests and the local demo.

A real aiohttp server (``EmulatedServer``) that implements the endpoints the operator uses, answering
with the status codes, field names and error shapes of the real server (every captured exchange is
replayed by ``tests/devkit/emulator/test_conformance.py``; see README.md). Gen A defaults to the
captured server (``profile="captured"``); ``profile="references"`` is a later Gen A that presents
references:

- auth (role tokens; 401/403 shapes), the control-plane version header (400), ``X-Namespace``
  resolution (404 ``namespace_not_found``), JSON media type (415);
- ``GET /api/cluster/info`` (Gen A captured body, discovery block in the references profile; Gen B discovery
  block + transport manifest + ``runtime_external_payload_transport`` capability);
- namespaces and ``PUT …/external-storage`` with Laravel-style validation and messages;
- ``POST /api/storage/test`` (really writes/reads/deletes for ``local``);
- workflows list/describe/runs/history pages/history export with payload envelopes (inline, Gen A
  ``external_storage``, Gen B ``external_payload``), inline in the captured profile;
- history retention status/pass (captured Gen A deletes no payload; references Gen A has the
  shared-object deletion hazard; Gen B owner-aware deletion),
  Gen B upload cleanup, and the Gen B runtime transport ``/api/external-payloads/v1``;
- fault switches (outage with same-port restart, injected statuses, latency, 401s, malformed /
  wrong-type / truncated bodies, connection resets, storage status and storage errors).

Where it is simplified versus the real server
---------------------------------------------
- State is in memory (no database); workflows are *seeded* with ``add_workflow`` or started with a
  minimal ``POST /api/workflows`` (runs stay ``pending``: there is no worker plane ``/api/worker/*``,
  no schedules, signals, updates or queries).
- Cluster info is the captured Gen A body (server 2.0.0 @11d35b7) with only ``worker_fleet.namespace``,
  the ``namespace`` discovery block and (Gen B) ``version``/capability patched; counters in it are static.
- Provider drivers (``s3``/``gcs``/``azure``/``custom``) are simulated: objects live in an in-memory
  store keyed by URI (pluggable via ``set_object_store``); availability is a switch per driver
  (default: s3 available, others ``driver_unavailable`` as on the stock image) and Gen A needs
  ``config.disk`` naming a configured disk (Gen B: s3 falls back to ``external-payload-s3``). There are no
  credentials, no ``DW_EXTERNAL_PAYLOAD_S3_*`` environment and no ``s3_bucket_mismatch``; a provider
  policy needs ``config.bucket``/``container``/``name`` (``custom`` also ``config.scheme``).
- ``local`` writes real files under ``config.uri`` (``file://``) or ``{local_root}/{namespace}``; the
  local driver ignores ``config.prefix`` (as the documented ``file://{root}/{codec}/…`` layout).
- Retention: a run owns the references found in its history events, its input/output envelopes and the
  URIs declared with ``owns``/``set_run_owns`` (stand-in for memo/tasks/updates/stream items). Gen A
  (hazard on) deletes every owned URI without an owner check; otherwise an object is kept while another
  retained run (any namespace) or another Gen B registry row references it. No detached-activity
  holds, no message streams, no backup holds, no scheduler (passes run only when requested).
- Gen B transport: no namespace quotas (429/``…_exhausted``), no storage-pressure/completion header
  handling, no audit events; 401/403 on transport routes use the typed transport error envelope.
  Gen B ``configuration_error`` codes in discovery are a small invented set.
- Inline mode: an unreadable offloaded payload makes the read endpoints answer 500 ``Server Error``
  (real behaviour unknown). ``input``/``output`` are decoded for 0.4.x generic-wrapper blobs and, when
  the SDK is importable, 2.x blobs; otherwise ``null``.
- History export has the real bundle's sections and keys, with simplified content (no waits, timers,
  activities; one workflow task) and a correct ``json-recursive-ksort-v1`` checksum; no signature.
- Unverified guesses: 405 route-miss bodies, invalid page tokens (422), the start success response,
  not-found bodies of describe/export; a connection reset is logged with status 444.
- ``DELETE /api/namespaces/{name}`` is not implemented.
"""

from __future__ import annotations

from .config import Generation, Profile, Tokens
from .contract import Limits
from .events import RunSpec
from .faults import FaultRule, Faults
from .object_stores import AzureContainerObjectStore, GcsClientObjectStore, S3ClientObjectStore
from .reqlog import RequestLog, RequestRecord
from .server import EmulatedServer
from .storage import DriverSwitches, MemoryObjectStore, ObjectStore, StorageError

__all__ = [
    "AzureContainerObjectStore",
    "DriverSwitches",
    "EmulatedServer",
    "FaultRule",
    "Faults",
    "GcsClientObjectStore",
    "Generation",
    "Limits",
    "MemoryObjectStore",
    "ObjectStore",
    "Profile",
    "RequestLog",
    "RequestRecord",
    "RunSpec",
    "S3ClientObjectStore",
    "StorageError",
    "Tokens",
]
