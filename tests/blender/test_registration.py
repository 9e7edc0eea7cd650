"""The built zip installs into real Blender, registers everything, and unregisters cleanly."""

from __future__ import annotations

import importlib
import zipfile

import bpy
import pytest

from tools.extension_tool import validate

PACKAGE = "bl_ext.user_default.modelslab_3d"


def _our_types() -> set[str]:
    return {name for name in dir(bpy.types) if "MODELSLAB" in name or "ModelsLab" in name}


def test_zip_validates_and_ships_only_the_extension(extension_zip):
    assert extension_zip.name == "modelslab_3d-0.1.0.zip"
    validate(extension_zip)
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names
    assert {"__init__.py", "api/client.py", "operators/generate.py", "panels/sidebar.py"} <= set(
        names
    )
    shipped_dirs = {name.split("/")[0] for name in names if "/" in name}
    assert not shipped_dirs & {"tests", "emulator", "bench", "demo", "tools", ".ci", ".venv"}
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]


def test_everything_is_registered(extension):
    assert PACKAGE in bpy.context.preferences.addons
    for operator in ("generate", "import_job", "resume_job", "cancel_job", "remove_job"):
        assert hasattr(bpy.ops.modelslab, operator), operator
    assert {"MODELSLAB_PT_main", "MODELSLAB_PT_jobs", "MODELSLAB_PT_advanced"} <= _our_types()
    assert bpy.app.timers.is_registered(importlib.import_module(PACKAGE + ".blender.runtime").pump)


def test_scene_groups_hold_every_documented_field_with_its_default(extension):
    endpoints = importlib.import_module(PACKAGE + ".api.endpoints").ENDPOINTS
    scene = bpy.context.scene
    for endpoint in endpoints.values():
        group = getattr(scene.modelslab, endpoint.group)
        for param in endpoint.params:
            value = getattr(group, param.name)
            if param.kind == "float":
                assert value == pytest.approx(param.default), (endpoint.id, param.name)
            else:
                assert value == param.default, (endpoint.id, param.name)
    assert scene.modelslab.image_to_3d.output_format == "glb"
    assert scene.modelslab.image_to_3d.bl_rna.properties["mesh_simplify"].hard_min == pytest.approx(
        0.9
    )


def test_preferences_keep_a_masked_key(extension):
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    assert prefs.bl_rna.properties["api_key"].subtype == "PASSWORD"
    for name in ("api_base", "download_folder", "parallel_jobs", "read_timeout", "ca_bundle"):
        assert name in prefs.bl_rna.properties, name


def test_disable_leaves_nothing_behind_and_enable_restores(extension):
    runtime = importlib.import_module(PACKAGE + ".blender.runtime")
    handlers_before = len(bpy.app.handlers.load_post)
    bpy.ops.preferences.addon_disable(module=PACKAGE)
    try:
        assert PACKAGE not in bpy.context.preferences.addons
        assert _our_types() == set()
        assert not hasattr(bpy.types.Scene, "modelslab")
        assert not hasattr(bpy.ops.modelslab, "generate") or not _operator_registered()
        assert not bpy.app.timers.is_registered(runtime.pump)
        assert len(bpy.app.handlers.load_post) == handlers_before - 1
    finally:
        bpy.ops.preferences.addon_enable(module=PACKAGE)
    assert PACKAGE in bpy.context.preferences.addons
    assert hasattr(bpy.types.Scene, "modelslab")
    assert _operator_registered()
    runtime = importlib.import_module(PACKAGE + ".blender.runtime")
    assert bpy.app.timers.is_registered(runtime.pump)


def _operator_registered() -> bool:
    try:
        bpy.ops.modelslab.generate.get_rna_type()
    except KeyError:
        return False
    return True
