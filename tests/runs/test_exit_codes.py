"""Exit codes of a run's shard: a person at a terminal sees the verdict; a Job only says whether it delivered one."""

from __future__ import annotations

import pytest

from payload_operator.api.results import IntegrityResult
from payload_operator.cli import integrity as integrity_command
from payload_operator.scheduler import command
from payload_operator.scheduler.results import ShardOutcome, failed
from payload_operator.tasks.integrity.run import IntegrityRun

DAMAGED = IntegrityResult(checked=4, bytes=40, ok=3, corrupt=1)
INTACT = IntegrityResult(checked=4, bytes=40, ok=4)


@pytest.mark.parametrize(
    ("outcome", "at_a_terminal", "as_a_job"),
    [
        (ShardOutcome(0, result=INTACT), 0, 0),
        (ShardOutcome(0, result=DAMAGED), 1, 0),  # the damage is in the result the operator reports
        (failed(0, "storage unreachable"), 2, 2),  # no result: the Job fails, and the run records why
    ],
    ids=["intact", "damage found", "no result"],
)
def test_a_job_that_handed_its_result_over_succeeds_whatever_the_result_says(
    outcome: ShardOutcome[IntegrityResult], at_a_terminal: int, as_a_job: int
) -> None:
    kind = IntegrityRun()
    assert integrity_command.exit_code(kind, outcome) == at_a_terminal
    assert integrity_command.exit_code(kind, outcome, reported=True) == as_a_job
    assert command.exit_code(kind, outcome, reported=True) == as_a_job
