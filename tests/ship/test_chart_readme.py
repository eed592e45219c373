"""The chart README is generated from values.yaml (scripts/chart_readme.py): it must be current and complete."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from scripts import chart_readme


def test_readme_is_current() -> None:
    """Regenerated in memory and compared: a values.yaml change without `make chart-readme` fails here."""
    assert chart_readme.README.read_text() == chart_readme.render(), "stale: run `make chart-readme`"


def test_check_mode_fails_on_a_stale_readme(tmp_path: Path) -> None:
    """What `make chart-readme` fixes: a values.yaml edited after the README was generated."""
    for name in ("Chart.yaml", "values.yaml"):
        shutil.copy(chart_readme.CHART / name, tmp_path / name)
    check = [sys.executable, chart_readme.__file__, "--check", "--chart", str(tmp_path)]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 1, "no README at all"
    subprocess.run([sys.executable, chart_readme.__file__, "--chart", str(tmp_path)], check=True)
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    with (tmp_path / "values.yaml").open("a") as values:
        values.write("# -- A value added later.\nlater: 1\n")
    stale = subprocess.run(check, capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "make chart-readme" in stale.stderr


def test_every_value_is_documented() -> None:
    values = yaml.safe_load((chart_readme.CHART / "values.yaml").read_text())
    docs = chart_readme.doc_comments((chart_readme.CHART / "values.yaml").read_text())
    rows = list(chart_readme.rows(values, docs))
    assert [r.key for r in rows if not r.description] == []
    assert set(docs) <= {r.key for r in rows}, "a `# --` comment documents a key the table does not show"


def test_comments_document_the_key_below_them_and_nothing_in_lists() -> None:
    text = """\
# -- top
a: 1
b:
  # -- nested,
  # continued
  c: x
  # an ordinary comment
  d: []
# -- (int or string) typed
e: null
f:
  - name: g
    # -- inside a list item: no path
    h: 1
# -- lost: a blank line follows

i: {}
"""
    docs = chart_readme.doc_comments(text)
    assert docs == {
        "a": chart_readme.Doc("top"),
        "b.c": chart_readme.Doc("nested, continued"),
        "e": chart_readme.Doc("typed", "int or string"),
    }
    rows = {r.key: r for r in chart_readme.rows(yaml.safe_load(text), docs)}
    assert list(rows) == ["a", "b.c", "b.d", "e", "f", "i"]
    assert (rows["e"].type, rows["e"].default) == ("int or string", "`null`")
    assert rows["f"].default == '`[{"name":"g","h":1}]`'


def test_table_cells_escape_pipes_and_html_outside_code() -> None:
    assert chart_readme._cell("a|b <x> `<y>`") == "a\\|b &lt;x&gt; `<y>`"
