"""The README is the front door: what it tells a newcomer to type works as written."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

from payload_operator.cli.main import SUBCOMMANDS, build_parser

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _synopsis() -> str:
    section = README.split("## Command line", 1)[1]
    return section.split("```text", 1)[1].split("```", 1)[0]


def _subparser(name: str) -> argparse.ArgumentParser:
    actions = [a for a in build_parser(name)._actions if isinstance(a, argparse._SubParsersAction)]
    parser: argparse.ArgumentParser = actions[0].choices[name]
    return parser


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_the_synopsis_lists_every_flag_of_every_subcommand(name: str) -> None:
    lines = _synopsis().split(f"payload-operator {name}", 1)[1]
    block = lines.split("payload-operator ", 1)[0]  # up to the next subcommand
    flags = {
        max(action.option_strings, key=len)
        for action in _subparser(name)._actions
        if action.option_strings and action.help != argparse.SUPPRESS and "--help" not in action.option_strings
    }
    missing = {flag for flag in flags if flag not in block and min_flag(name, flag) not in block}
    assert missing == set(), f"README synopsis of `{name}` lacks {sorted(missing)}"


def min_flag(name: str, flag: str) -> str:
    """The short spelling of a flag (the synopsis may use `-f` or `-n` instead of the long form)."""
    for action in _subparser(name)._actions:
        if flag in action.option_strings:
            return min(action.option_strings, key=len)
    return flag


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_help_says_what_it_does(name: str) -> None:
    assert _subparser(name).description, f"`payload-operator {name} --help` has no description line"


def test_one_helm_namespace_across_the_readme_and_the_docs() -> None:
    pages = [README, *(page.read_text() for page in (REPO / "docs").glob("*.md"))]
    found = set()
    for text in pages:
        for line in re.findall(r"helm (?:install|upgrade)[^\n]*(?:\n\s+[^\n]*)*", text):
            found.update(re.findall(r"(?:-n|--namespace)[ =]([a-z0-9-]+)", line))
    assert len(found) == 1, f"helm commands use several namespaces: {sorted(found)}"


def test_the_examples_namespace_is_created_before_the_readme_applies_them() -> None:
    example = yaml.safe_load((REPO / "examples" / "s3" / "externalpayloadstorage.yaml").read_text())
    namespace = example["metadata"]["namespace"]
    create = README.find(f"kubectl create namespace {namespace}")
    apply = README.find("kubectl apply -f examples/s3/")
    assert 0 <= create < apply, f'`kubectl apply -f examples/s3/` fails with namespaces "{namespace}" not found'
