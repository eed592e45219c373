#!/usr/bin/env python3
"""`helm template`, `helm lint` and `helm upgrade --install` for the chart, without a helm binary.

Uses helm-python-sdk (Helm's Go library inside a wheel), so it runs wherever the test venv does:

    scripts/render-chart.py template [-f values.yaml] [--set a.b=c] [--kube-version v1.20.2] > manifests.yaml
    scripts/render-chart.py lint [-f values.yaml] [--set ...] [--kube-version v1.20.2]
    scripts/render-chart.py install --namespace payload-system [-f values.yaml] [--set ...]   # upgrade --install

`template` renders for the given Kubernetes version (Helm's own default is its newest), so CEL validation in the
CRD appears only for versions that support it, exactly as `helm install` decides against a live cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "payload-operator"
DEFAULT_RELEASE = "payload-operator"

# Helm's install order for the kinds this chart renders; anything else goes last.
KIND_ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
)


@dataclass(frozen=True)
class Manifest:
    """One rendered document and the template it came from."""

    source: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        return self.body.get("metadata", {}).get("namespace")

    @property
    def is_hook(self) -> bool:
        return "helm.sh/hook" in (self.body.get("metadata", {}).get("annotations") or {})


def _sdk() -> Any:
    try:
        import helm_python
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("helm-python-sdk is missing: pip install 'helm-python-sdk>=0.2.2,<0.3'") from exc
    return helm_python


def render_files(
    values: Mapping[str, Any] | None = None,
    *,
    chart: Path = CHART,
    name: str = DEFAULT_RELEASE,
    namespace: str = "default",
    kube_version: str | None = None,
    api_versions: Sequence[str] = (),
    is_upgrade: bool = False,
) -> dict[str, str]:
    """Every rendered template (path -> text), as `helm template` computes it, NOTES.txt included."""
    helm = _sdk()
    options: dict[str, Any] = {"name": name, "namespace": namespace, "is_install": not is_upgrade}
    if is_upgrade:
        options["is_upgrade"] = True
    if kube_version:
        options["kube_version"] = kube_version
    if api_versions:
        options["api_versions"] = list(api_versions)
    with helm.Chart.load(str(chart)) as loaded:
        loaded.validate_schema(dict(values or {}))
        # Chart.render() has no kube_version/api_versions parameters; the native call takes them as options.
        from helm_python import _native

        text = _native.call_string("helm_render", loaded._raw(), json.dumps(dict(values or {})), json.dumps(options))
    rendered: dict[str, str] = json.loads(text)
    return rendered


def manifests(files: Mapping[str, str]) -> list[Manifest]:
    """The Kubernetes documents of rendered templates, in install order (hooks last)."""
    docs = [
        Manifest(path, body)
        for path, text in sorted(files.items())
        if not path.endswith("NOTES.txt")
        for body in yaml.safe_load_all(text)
        if isinstance(body, dict) and body
    ]

    def order(doc: Manifest) -> tuple[int, int]:
        rank = KIND_ORDER.index(doc.kind) if doc.kind in KIND_ORDER else len(KIND_ORDER)
        return (1 if doc.is_hook else 0, rank)

    return sorted(docs, key=order)


def render(values: Mapping[str, Any] | None = None, **options: Any) -> list[Manifest]:
    """Render and parse: the documents a release would create."""
    return manifests(render_files(values, **options))


def notes(values: Mapping[str, Any] | None = None, **options: Any) -> str:
    """The rendered NOTES.txt."""
    files = render_files(values, **options)
    return next((text for path, text in files.items() if path.endswith("NOTES.txt")), "")


def lint(
    values: Mapping[str, Any] | None = None, *, chart: Path = CHART, kube_version: str | None = None
) -> dict[str, Any]:
    """`helm lint --strict`: {"messages": [...], "errors": [...]}."""
    report: dict[str, Any] = _sdk().lint(str(chart), dict(values or {}), strict=True, kube_version=kube_version)
    return report


def to_yaml(docs: Iterable[Manifest]) -> str:
    """A multi-document YAML stream, like `helm template` prints."""
    return "".join(f"---\n# Source: {doc.source}\n{yaml.safe_dump(doc.body, sort_keys=False)}" for doc in docs)


def install(
    values: Mapping[str, Any] | None,
    *,
    namespace: str,
    name: str = DEFAULT_RELEASE,
    chart: Path = CHART,
    kubeconfig: str | None = None,
    timeout: int = 300,
    wait: bool = False,
) -> dict[str, Any]:
    """`helm upgrade --install` against the cluster of `kubeconfig` (default: $KUBECONFIG)."""
    helm = _sdk()
    with helm.Config(kubeconfig_path=kubeconfig, namespace=namespace) as config:
        existing = [r for r in config.list() if r.get("name") == name and r.get("namespace") == namespace]
        action = config.upgrade if existing else config.install
        release: dict[str, Any] = action(
            str(chart), name, dict(values or {}), namespace=namespace, timeout=timeout, wait="watcher" if wait else None
        )
    return release


def _values(files: Sequence[Path], sets: Sequence[str]) -> dict[str, Any]:
    helm = _sdk()
    merged: dict[str, Any] = {}
    for path in files:
        _merge(merged, yaml.safe_load(path.read_text()) or {})
    if sets:  # one parse, as helm does: `--set a[0].x=1 --set a[0].y=2` builds one list item
        _merge(merged, helm.parse_set_string(",".join(sets)))
    return merged


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["template", "lint", "install"])
    parser.add_argument("-f", "--values", type=Path, action="append", default=[], help="values file (repeatable)")
    parser.add_argument("--set", action="append", default=[], help="helm --set expression (repeatable)")
    parser.add_argument("--name", default=DEFAULT_RELEASE, help="release name")
    parser.add_argument("-n", "--namespace", default="default", help="release namespace")
    parser.add_argument("--kube-version", help="Kubernetes version to render for, e.g. v1.20.2")
    parser.add_argument("--api-versions", action="append", default=[], help="extra API versions (repeatable)")
    parser.add_argument("--wait", action="store_true", help="install: wait until the resources are ready")
    args = parser.parse_args(argv)
    values = _values(args.values, args.set)
    if args.command == "template":
        docs = render(
            values,
            name=args.name,
            namespace=args.namespace,
            kube_version=args.kube_version,
            api_versions=args.api_versions,
        )
        sys.stdout.write(to_yaml(docs))
        return 0
    if args.command == "lint":
        report = lint(values, kube_version=args.kube_version)
        for message in report.get("messages", []):
            print(f"[{message.get('severity')}] {message.get('path')}: {message.get('error')}")
        return 1 if report.get("errors") else 0
    release = install(values, namespace=args.namespace, name=args.name, wait=args.wait)
    print(f"release {args.name} in {args.namespace}: revision {release.get('version') or release.get('revision')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
