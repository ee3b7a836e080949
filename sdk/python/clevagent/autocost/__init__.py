"""auto_cost: capture token usage of the openai and anthropic libraries.

Neither library is imported by the SDK. A library already imported is wrapped at init().
One that is installed but not yet imported is wrapped right after the application imports
it, by a finder on sys.meta_path that removes itself once both are wrapped.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any

from clevagent._client import Client
from clevagent.autocost._patch import patch_library

logger = logging.getLogger("clevagent")

LIBRARIES = ("openai", "anthropic")

_current: Callable[[], Client | None] = lambda: None  # noqa: E731
_patched: set[str] = set()
_waiting: set[str] = set()
_lock = threading.Lock()


def enable(current: Callable[[], Client | None]) -> None:
    """Route captured usage to current() and wrap each library as soon as it is loaded."""
    global _current
    _current = current
    for name in LIBRARIES:
        if name in sys.modules:
            _wrap_library(name)
        elif name not in _patched and _installed(name):
            with _lock:
                _waiting.add(name)
    if _waiting and not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


def emit(provider: str, model: str, row: tuple[int, ...] | None) -> None:
    """Queue one call's usage (None: it never arrived) for the current client; lock-free."""
    client = _current()
    if client is not None and client.config.auto_cost:
        client.state.inbox.append((provider, model, row))


def _wrap_library(name: str) -> None:
    with _lock:
        if name in _patched:
            return
        _patched.add(name)
        _waiting.discard(name)
    try:
        patch_library(name, emit)
    except Exception:
        # An unexpected library version must not break the application: no auto_cost then.
        logger.debug("auto_cost could not wrap %s", name, exc_info=True)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Hand out the real spec of a waiting library with a loader that wraps it when loaded."""

    def __init__(self) -> None:
        self.searching = threading.local()

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting or getattr(self.searching, "active", False):
            return None
        self.searching.active = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.searching.active = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, name: str) -> None:
        self.loader = loader
        self.name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # Put the real loader back first, so the module never sees this wrapper.
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        _wrap_library(self.name)
        if not _waiting:
            _remove_finder()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


def _remove_finder() -> None:
    for finder in list(sys.meta_path):
        if isinstance(finder, _PatchOnImport):
            try:
                sys.meta_path.remove(finder)
            except ValueError:
                pass
