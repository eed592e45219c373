"""Which file holds the operator's token when it logs in from a kubeconfig (client-go's `tokenFile`)."""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest
import yaml

from payload_operator.adapters import kube_login


def _kubeconfig(path: Path, user: dict[str, str]) -> Path:
    config = {
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_relative_token_file_is_read_beside_its_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "token").write_text("rotating-token\n")
    config = _kubeconfig(tmp_path / "config", {"tokenFile": "sa/token"})
    monkeypatch.chdir("/")
    monkeypatch.setenv("KUBECONFIG", str(config))

    credentials = kube_login.login(kopf.OperatorSettings())

    assert credentials is not None
    assert credentials.token_file == tmp_path / "sa" / "token"
    assert credentials.connection.token == "rotating-token", "Kopf's calls use it too"


def test_a_literal_token_wins_over_a_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("from-file")
    config = _kubeconfig(tmp_path / "config", {"token": "literal", "tokenFile": str(tmp_path / "token")})
    monkeypatch.setenv("KUBECONFIG", str(config))

    credentials = kube_login.login(kopf.OperatorSettings())

    assert credentials is not None
    assert (credentials.connection.token, credentials.token_file) == ("literal", None)
