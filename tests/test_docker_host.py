"""The local engine is found the way the docker CLI finds it."""

from __future__ import annotations

import hashlib
import json

from adapters.docker_host import DEFAULT_HOST, local_docker_host


def test_docker_host_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))

    assert local_docker_host() == "tcp://127.0.0.1:2375"


def test_current_context_endpoint_is_used(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "builder"}))
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"builder").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": "builder", "Endpoints": {"docker": {"Host": "ssh://me@builder"}}}))

    assert local_docker_host() == "ssh://me@builder"


def test_broken_config_falls_back_to_the_default_socket(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")

    assert local_docker_host() == DEFAULT_HOST


def test_missing_context_meta_falls_back_to_the_default_socket(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONTEXT", "gone")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))

    assert local_docker_host() == DEFAULT_HOST
