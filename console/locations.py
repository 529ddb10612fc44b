"""Where watchfloor finds its config file and keeps its state (DESIGN §5, §6).

The config file is looked up in this order: ``--config``, then
``$WATCHFLOOR_CONFIG``, then ``$XDG_CONFIG_HOME/watchfloor/config.yaml``. State
(run journals, the log file) lives under ``$XDG_STATE_HOME/watchfloor``.

No Textual here: headless commands import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "watchfloor"
CONFIG_ENV_VAR = "WATCHFLOOR_CONFIG"
CONFIG_FILE_NAME = "config.yaml"
LOG_FILE_NAME = "watchfloor.log"

_PRIVATE = 0o700

__all__ = [
    "APP_NAME",
    "CONFIG_ENV_VAR",
    "availability_dir",
    "config_path",
    "default_config_path",
    "log_file",
    "runs_dir",
    "state_dir",
]


def _xdg_home(variable: str) -> Path | None:
    # platformdirs honours XDG_* on Linux, but releases before 4.3 ignore it on
    # macOS; reading it ourselves gives every platform the same behaviour. The XDG
    # spec says relative values are invalid and must be ignored.
    value = os.environ.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    return None


def default_config_path() -> Path:
    """The config file's default location, whether or not it exists.

    Returns:
        ``$XDG_CONFIG_HOME/watchfloor/config.yaml`` (platform equivalent when
        ``XDG_CONFIG_HOME`` is unset).
    """
    home = _xdg_home("XDG_CONFIG_HOME")
    base = home / APP_NAME if home else platformdirs.user_config_path(APP_NAME, appauthor=False)
    return base / CONFIG_FILE_NAME


def config_path(explicit: str | None) -> Path | None:
    """Find the config file to load.

    An explicit ``--config`` or ``$WATCHFLOOR_CONFIG`` is returned even when the
    file does not exist, so that the loader reports "not found" instead of the
    console silently running without the config the operator asked for.

    Args:
        explicit: The ``--config`` argument, or None when it was not given.

    Returns:
        The path to load, or None when no config file is in play (the console then
        discovers the local Docker engine and the current kube context).
    """
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(CONFIG_ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    default = default_config_path()
    return default if default.exists() else None


def _ensure_private_dir(path: Path) -> Path:
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    # Create top-down, each with 0700 (as XDG asks for its base directories):
    # journals name environments, workloads and operators.
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=_PRIVATE)
        except FileExistsError:
            continue  # another watchfloor process won the race
        # mkdir's mode is filtered through the umask; make it exactly 0700.
        os.chmod(directory, _PRIVATE)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory")
    return path


_configured_state_dir: Path | None = None


def use_state_dir(path: Path | None) -> None:
    """Make the config's ``state_dir`` the default for every later call in this process
    (journals, locks, the structured log and the history all read the same place)."""
    global _configured_state_dir
    _configured_state_dir = Path(path).expanduser() if path is not None else None


def state_dir(override: Path | None = None) -> Path:
    """The state directory, created (0700) if missing.

    Args:
        override: The config's ``state_dir``, when set; it wins over the XDG path.

    Returns:
        ``$XDG_STATE_HOME/watchfloor`` (platform equivalent when unset), or
        ``override``.
    """
    override = override if override is not None else _configured_state_dir
    if override is not None:
        base = Path(override).expanduser()
    else:
        home = _xdg_home("XDG_STATE_HOME")
        base = home / APP_NAME if home else platformdirs.user_state_path(APP_NAME, appauthor=False)
    return _ensure_private_dir(base)


def runs_dir(override: Path | None = None) -> Path:
    """The directory holding one journal per run, created (0700) if missing.

    Args:
        override: The config's ``state_dir``, when set.

    Returns:
        ``state_dir()/runs``.
    """
    return _ensure_private_dir(state_dir(override) / "runs")


def log_file(override: Path | None = None) -> Path:
    """Where the structured log is written; its directory exists, the file may not.

    Args:
        override: The config's ``state_dir``, when set.

    Returns:
        ``state_dir()/watchfloor.log``.
    """
    return state_dir(override) / LOG_FILE_NAME


def availability_dir(override: Path | None = None) -> Path:
    """The directory holding one health-transition file per environment, created (0700)
    if missing (console/availability.py).

    Args:
        override: The config's ``state_dir``, when set.

    Returns:
        ``state_dir()/availability``.
    """
    return _ensure_private_dir(state_dir(override) / "availability")
