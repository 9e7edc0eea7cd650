"""Real Blender for the tests: the built zip installed into an isolated user profile.

BLENDER_USER_RESOURCES must be set before bpy is first imported, so it is set here at import
time; nothing outside tests/blender imports bpy.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="modelslab-blender-profile-")

import bpy
import pytest
from subjects import make_subject_image

from tools.extension_tool import build

PACKAGE = "bl_ext.user_default.modelslab_3d"


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def extension(extension_zip: Path) -> ModuleType:
    """The installed, enabled extension package, with online access allowed."""
    bpy.context.preferences.system.use_online_access = True
    bpy.ops.extensions.package_install_files(
        filepath=str(extension_zip), repo="user_default", enable_on_install=True
    )
    assert PACKAGE in bpy.context.preferences.addons, "the extension did not enable"
    return importlib.import_module(PACKAGE)


@pytest.fixture
def ml(extension: ModuleType, emulator, tmp_path: Path) -> Iterator[SimpleNamespace]:
    """A clean scene, preferences pointing at the emulator, and an empty job folder."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.system.use_online_access = True
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    prefs.api_base = emulator.base_url
    prefs.api_key = "instant"
    prefs.download_folder = str(tmp_path / "jobs")  # reloads the job list from this folder
    runtime = importlib.import_module(PACKAGE + ".blender.runtime")
    yield SimpleNamespace(
        package=extension,
        prefs=prefs,
        runtime=runtime,
        emulator=emulator,
        scene=bpy.context.scene,
        folder=tmp_path / "jobs",
    )
    for job_id in list(runtime.get().jobs):
        runtime.get().cancel(job_id)
    runtime.reload_jobs()


@pytest.fixture
def subject_image(ml: SimpleNamespace) -> bpy.types.Image:
    """The test subject, chosen as the panel's image."""
    image = make_subject_image()
    ml.scene.modelslab.image = image
    return image
