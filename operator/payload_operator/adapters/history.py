"""Walk a namespace's histories over raw HTTP and collect every payload reference (contract §6.8).

References appear wherever a payload envelope can: `{codec, external_storage: {...}}` (Gen A, with a
provider URI) or `{codec, external_payload: {...}}` (Gen B, reference id only). A server that inlines
offloaded payloads (§12) shows neither, so the walk also counts inline blobs larger than the threshold:
when those exist and no reference was seen, references are not observable and nothing may be called
an orphan.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from payload_operator.adapters.server import ServerClient, ServerError
from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.planning import keys
from payload_operator.planning.keys import SHA256_RE

GEN_A_SCHEMA = "durable-workflow.v2.external-payload-reference.v1"
GEN_B_SCHEMA = "durable-workflow.v2.runtime-external-payload-reference.v1"
REFERENCE_ID_RE = re.compile(r"^ep_[0-9A-HJKMNP-TV-Z]{26}$")
MAX_SIZE_BYTES = 2**63 - 1  # no store holds more; a larger claim would overflow the on-disk reference sets
CODEC_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class Reference:
    """One payload reference found in a history."""

    sha256: str
    size_bytes: int
    codec: str
    uri: str | None = None
    reference_id: str | None = None


@dataclass
class WalkStats:
    """What the walk saw; `failed_pages` names every page that could not be read."""

    workflows: int = 0
    runs: int = 0
    pages: int = 0
    references: int = 0
    invalid_references: int = 0
    inline_over_threshold: int = 0
    failed_pages: list[str] = field(default_factory=list)

    def references_observable(self) -> bool:
        """False when the server inlines offloaded payloads: large inline blobs seen, no reference at all."""
        return not (self.references == 0 and self.inline_over_threshold > 0)


def parse_reference(envelope: dict[str, Any]) -> Reference | None:
    """A validated reference from an envelope, or None (invalid ones are counted by the caller)."""
    for key, schema in (("external_storage", GEN_A_SCHEMA), ("external_payload", GEN_B_SCHEMA)):
        raw = envelope.get(key)
        if not isinstance(raw, dict):
            continue
        sha = raw.get("sha256")
        size = raw.get("size_bytes")
        codec = raw.get("codec")
        if raw.get("schema") != schema or not isinstance(sha, str) or not SHA256_RE.match(sha.lower()):
            return None
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE_BYTES:
            return None
        if not isinstance(codec, str) or not codec:
            return None
        if key == "external_storage":
            uri = raw.get("uri")
            return Reference(sha.lower(), size, codec, uri=uri) if isinstance(uri, str) and uri else None
        reference_id = raw.get("reference_id")
        if not isinstance(reference_id, str) or not REFERENCE_ID_RE.match(reference_id):
            return None
        return Reference(sha.lower(), size, codec, reference_id=reference_id)
    return None


def _envelopes(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON tree that looks like a payload envelope (iterative: histories can be deep)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "external_storage" in item or "external_payload" in item or "blob" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def scan(node: Any, stats: WalkStats, threshold_bytes: int) -> Iterator[Reference]:
    """References in one JSON document; counts invalid references and large inline blobs."""
    for envelope in _envelopes(node):
        if "external_storage" in envelope or "external_payload" in envelope:
            reference = parse_reference(envelope)
            if reference is None:
                stats.invalid_references += 1
            else:
                stats.references += 1
                yield reference
        elif isinstance(envelope.get("blob"), str) and len(envelope["blob"]) > threshold_bytes:
            stats.inline_over_threshold += 1
    stats.inline_over_threshold += sum(1 for _ in _large_strings(node, threshold_bytes))


def _large_strings(node: Any, threshold_bytes: int) -> Iterator[str]:
    """Bare payload strings above the threshold (how an inlining server returns offloaded input, §12)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "blob" in item:
                continue  # counted as an envelope
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and len(item) > threshold_bytes:
            yield item


async def walk(
    client: ServerClient, namespace: str, stats: WalkStats, *, threshold_bytes: int, page_size: int = 500
) -> AsyncIterator[Reference]:
    """Every reference in every run's history of a namespace; failed pages are recorded, not raised."""
    try:
        async for workflow in client.workflows(namespace):
            stats.workflows += 1
            workflow_id = str(workflow.get("workflow_id") or workflow.get("id") or "")
            try:
                runs = await client.runs(namespace, workflow_id)
            except ServerError as exc:
                stats.failed_pages.append(f"{namespace}/{workflow_id} runs: {exc}")
                continue
            for run in runs:
                stats.runs += 1
                run_id = str(run.get("run_id") or run.get("id") or "")
                try:
                    async for page in client.history_pages(namespace, workflow_id, run_id, page_size):
                        stats.pages += 1
                        for reference in scan(page.get("events") or [], stats, threshold_bytes):
                            yield reference
                except ServerError as exc:
                    stats.failed_pages.append(f"{namespace}/{workflow_id}/{run_id} history: {exc}")
    except ServerError as exc:
        stats.failed_pages.append(f"{namespace} workflows: {exc}")


def object_key(reference: Reference, spec: ExternalPayloadStorageSpec) -> str:
    """The key holding a reference's bytes; ReferenceOutsideStorage when it must not be read.

    Gen A carries a provider URI (any scheme the SDK or the server uses for this driver), which must
    lie inside the bucket and prefix and name the reference's sha256. Gen B carries none: the key is
    derived from prefix, codec and sha256, as the server lays it out.
    """
    if reference.uri is None:
        if not CODEC_RE.match(reference.codec):
            raise keys.ReferenceOutsideStorage(f"codec {reference.codec!r} is not a key segment")
        return keys.payload_key(spec.key_prefix, reference.sha256, reference.codec)
    key = keys.key_from_uri(reference.uri, driver=spec.driver.value, bucket=spec.bucket, prefix=spec.key_prefix)
    segments = key.split("/")
    if len(segments) < 3 or segments[-1] != reference.sha256 or segments[-2] != reference.sha256[:2]:
        raise keys.ReferenceOutsideStorage("the URI does not name the reference's sha256")
    return key
