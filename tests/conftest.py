"""Shared by every test folder: the repo root on sys.path, and the ModelsLab API emulator.

No bpy here: the api and emulator tests run in any Python 3.11.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The repo root is the extension package. Its pure modules that import siblings relatively
# (utils -> api) load as `modelslab_3d.<module>` without running __init__.py, which needs bpy.
_package = types.ModuleType("modelslab_3d")
_package.__path__ = [str(ROOT)]
sys.modules.setdefault("modelslab_3d", _package)

from emulator import Emulator  # noqa: E402


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Emulator]:
    with Emulator(port=0, default_scenario="instant") as server:
        yield server


@pytest.fixture
def emulator(_emulator_server: Emulator) -> Emulator:
    """The session's emulator, with no jobs, files or recorded requests left from earlier tests."""
    _emulator_server.reset()
    return _emulator_server
