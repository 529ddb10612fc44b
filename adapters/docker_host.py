"""Where the local Docker engine is, found the way the docker CLI finds it.

Kept apart from ``adapters.docker`` so the console can name the engine without
importing the docker SDK (≈150 ms) before its first frame; the SDK's
``ContextAPI`` reads the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

DEFAULT_HOST = "unix:///var/run/docker.sock"


def local_docker_host() -> str:
    """``DOCKER_HOST``, else the current docker context's endpoint, else the default socket."""
    env_host = os.environ.get("DOCKER_HOST")
    if env_host:
        return env_host
    config_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        context = os.environ.get("DOCKER_CONTEXT") or json.loads((config_dir / "config.json").read_text()).get(
            "currentContext"
        )
        if context and context != "default":
            digest = hashlib.sha256(context.encode()).hexdigest()
            meta = json.loads((config_dir / "contexts" / "meta" / digest / "meta.json").read_text())
            host = meta.get("Endpoints", {}).get("docker", {}).get("Host")
            if host:
                return host
    except (OSError, ValueError, AttributeError):
        # No config, unreadable or odd JSON: the CLI falls back to the default too.
        pass
    return DEFAULT_HOST
