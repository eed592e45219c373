"""The e2e fixtures live in tests/support/operator_fixtures.py (registered suite-wide); helpers re-exported."""

from tests.support.operator_fixtures import (
    ADMIN_TOKEN,
    CRD,
    GROUP_PATH,
    apply,
    condition,
    dump,
    eps_manifest,
    events_for,
    get_eps,
    patch_spec,
    secret_manifest,
    wait_condition,
)

__all__ = [
    "ADMIN_TOKEN",
    "CRD",
    "GROUP_PATH",
    "apply",
    "condition",
    "dump",
    "eps_manifest",
    "events_for",
    "get_eps",
    "patch_spec",
    "secret_manifest",
    "wait_condition",
]
