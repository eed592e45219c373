"""Rules that need the previous state: the immutable storage identity.

CEL transition rules refuse these changes at admission on Kubernetes >= 1.25; older clusters accept
them, so the operator compares the spec with the identity recorded in status at first sync.
"""

from __future__ import annotations

from payload_operator.api.spec import ExternalPayloadStorageSpec
from payload_operator.api.status import BoundStorage


def bound_storage(spec: ExternalPayloadStorageSpec) -> BoundStorage:
    """The identity of the storage a spec points at."""
    return BoundStorage(driver=spec.driver.value, bucket=spec.bucket, prefix=spec.prefix)


def immutable_field_changes(spec: ExternalPayloadStorageSpec, bound: BoundStorage | None) -> list[str]:
    """Messages for every immutable field that differs from the recorded identity."""
    if bound is None:
        return []
    current = bound_storage(spec)
    bucket_field = {"s3": "s3.bucket", "gcs": "gcs.bucket", "azure": "azure.container", "local": "local.path"}
    changes = []
    if current.driver != bound.driver:
        changes.append(f"spec.driver is immutable (was {bound.driver})")
    elif current.bucket != bound.bucket:
        changes.append(f"spec.{bucket_field[bound.driver]} is immutable (was {bound.bucket})")
    if current.prefix != bound.prefix:
        changes.append(f"spec.prefix is immutable (was {bound.prefix!r})")
    return changes
