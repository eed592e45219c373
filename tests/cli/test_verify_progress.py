"""What `kubectl eps verify` prints while it follows a run: a bar redrawn in place on a terminal, else lines."""

from __future__ import annotations

import io
from typing import Any, cast

from payload_operator.cli.kubectl_eps.kubectl import Kubectl
from payload_operator.cli.kubectl_eps.verify import Progress, follow


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_cleared_before_the_next_line() -> None:
    out = io.StringIO()
    progress = Progress(out, terminal=True)
    progress.bar("20261207-051559", 1, 4, 3.2)
    progress.bar("20261207-051559", 2, 4, 4.0)
    progress.say("run 20261207-051559 finished after 4.1s: Succeeded")
    assert out.getvalue() == (
        "\r[#####...............] run 20261207-051559: 1/4 shards done, 3s\033[K"
        "\r[##########..........] run 20261207-051559: 2/4 shards done, 4s\033[K"
        "\r\033[Krun 20261207-051559 finished after 4.1s: Succeeded\n"
    )


def test_in_a_log_a_line_per_change_and_every_ten_seconds_while_nothing_changes() -> None:
    out = io.StringIO()
    progress = Progress(out, terminal=False)
    for second in range(25):
        progress.bar("r1", None, 1, float(second))
    progress.bar("r1", 1, 2, 25.0)
    assert out.getvalue().splitlines() == [
        "run r1: running, 0s",
        "run r1: running, 10s",
        "run r1: running, 20s",
        "run r1: 1/2 shards done, 25s",
    ]


class _Answered:
    """A kubectl whose resource already holds the requested run's result: it ran between two looks."""

    def resource(self, name: str) -> dict[str, Any]:
        result = {"runId": "20261207-092642", "result": "Failed", "shards": 1}
        return {"spec": {"runner": {"type": "InProcess"}}, "status": {"integrity": {"lastResult": result}}}


def test_a_run_that_finished_between_two_looks_is_still_reported_as_started() -> None:
    out = io.StringIO()
    body = follow(cast(Kubectl, _Answered()), "payloads", set(), Progress(out, terminal=False), timeout=5)
    assert body["status"]["integrity"]["lastResult"]["runId"] == "20261207-092642"
    assert out.getvalue().splitlines() == ["run 20261207-092642 started (InProcess, 1 shard(s))"]
