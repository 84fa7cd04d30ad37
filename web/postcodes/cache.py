"""The per-process cache of opened directories (the one piece of global state here)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Protocol

from .build import build_directory
from .directory import PostcodeDirectory, default_directory_path
from .errors import DirectoryUnavailable

logger = logging.getLogger(__name__)

# Optional app config key overriding where the directory file lives.
PATH_CONFIG_KEY = "POSTCODES_DIRECTORY_PATH"


class _AppLike(Protocol):
    """What we need from a Flask app, without importing Flask."""

    instance_path: str
    config: Any


# Opened directories by file path. Per process: the arrays are memory-mapped, so
# every worker shares one copy in the page cache. The lock stops two threads of a
# worker building or opening the same file at once.
_OPENED: dict[Path, PostcodeDirectory] = {}
_LOCK = threading.Lock()


def directory_path_for(app: _AppLike) -> Path:
    """The app's directory file: ``POSTCODES_DIRECTORY_PATH`` config or the instance default."""
    configured = app.config.get(PATH_CONFIG_KEY) if getattr(app, "config", None) else None
    return Path(configured) if configured else default_directory_path(app.instance_path)


def get_directory(app: _AppLike) -> PostcodeDirectory:
    """The app's opened directory, building the file first if it does not exist yet."""
    path = directory_path_for(app)
    with _LOCK:
        directory = _OPENED.get(path)
        if directory is None:
            if not path.exists():
                logger.warning("Postcode directory %s is missing; building it now", path)
                stats = build_directory(path)
                logger.info("Built postcode directory:\n%s", stats.summary())
            try:
                directory = PostcodeDirectory.open(path)
            except DirectoryUnavailable:
                logger.exception("Cannot open postcode directory %s", path)
                raise
            _OPENED[path] = directory
    return directory


def clear_directory_cache() -> None:
    """Forget opened directories (tests; after `flask postcodes build` in the same process)."""
    with _LOCK:
        _OPENED.clear()
