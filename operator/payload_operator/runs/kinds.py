"""The run kinds the operator schedules, by name: the spec block, status block and CLI subcommand share it."""

from __future__ import annotations

from payload_operator.jobs.integrity import IntegrityRun
from payload_operator.jobs.retention import RetentionRun
from payload_operator.runs.base import RunKind


def run_kinds() -> dict[str, RunKind]:
    """One instance of every scheduled kind."""
    return {"retention": RetentionRun(), "integrity": IntegrityRun()}
