"""The kubeconfig the client would use, and its current context, read without the client.

Kept apart from ``adapters.kubernetes`` so the console can list a zero-config
Kubernetes environment without importing the kubernetes client before its first frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def default_kubeconfig() -> Path | None:
    """The first file of ``$KUBECONFIG``, else ``~/.kube/config``, if it exists."""
    listed = os.environ.get("KUBECONFIG", "")
    candidates = [Path(p).expanduser() for p in listed.split(os.pathsep) if p] or [Path.home() / ".kube" / "config"]
    return next((path for path in candidates if path.is_file()), None)


def current_context(path: Path) -> str | None:
    """The ``current-context`` of a kubeconfig, or None when unreadable or unset."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(document, dict):
        return None
    context = document.get("current-context")
    return context if isinstance(context, str) and context else None
