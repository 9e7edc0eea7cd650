"""The main job, end to end: an image becomes a model in a saved .blend and a rendered PNG.

Builds and installs the extension into an isolated Blender profile, starts the ModelsLab
emulator on loopback (or, with MODELSLAB_API_KEY set and no MODELSLAB_API_BASE, uses the real
service), runs `bpy.ops.modelslab.generate` on the shipped sample image, and saves the result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="modelslab-demo-profile-")

import bpy  # noqa: E402
from mathutils import Vector  # noqa: E402

from tools.extension_tool import build  # noqa: E402

PACKAGE = "bl_ext.user_default.modelslab_3d"
ENDPOINTS = ("IMAGE_TO_3D", "ENTERPRISE_IMAGE_TO_3D")


@contextlib.contextmanager
def modelslab_service() -> Iterator[tuple[str, str]]:
    """(api_key, api_base): the real service when a key is set without a base, else the emulator."""
    key = os.environ.get("MODELSLAB_API_KEY", "")
    if key and not os.environ.get("MODELSLAB_API_BASE"):
        print("Using the real ModelsLab service (MODELSLAB_API_KEY is set)")
        yield key, ""
        return
    from emulator import Emulator

    with Emulator(port=0, default_scenario="processing") as emulator:
        print(f"ModelsLab emulator listening on {emulator.base_url}")
        yield key or "demo-key", emulator.base_url


def install_extension(work_dir: Path) -> None:
    zip_path = build(work_dir)
    bpy.context.preferences.system.use_online_access = True
    bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    if PACKAGE not in bpy.context.preferences.addons:
        raise SystemExit("The extension did not enable; see the messages above.")
    print(f"Installed and enabled {zip_path.name}")


def frame_and_render(obj: bpy.types.Object, textured: bool, png_path: Path) -> None:
    """A Workbench render looking at the model from the front, slightly above."""
    scene = bpy.context.scene
    low = Vector(min(v[i] for v in _corners(obj)) for i in range(3))
    high = Vector(max(v[i] for v in _corners(obj)) for i in range(3))
    centre, size = (low + high) / 2, max(high.x - low.x, high.y - low.y, high.z - low.z)
    camera = bpy.data.objects.new("Demo Camera", bpy.data.cameras.new("Demo Camera"))
    scene.collection.objects.link(camera)
    direction = Vector((0.55, -1.0, 0.45)).normalized()
    camera.location = centre + direction * size * 2.6
    camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "TEXTURE" if textured else "VERTEX"
    scene.render.resolution_x, scene.render.resolution_y = 800, 800
    scene.render.film_transparent = False
    scene.render.filepath = str(png_path)
    bpy.ops.render.render(write_still=True)


def _corners(obj: bpy.types.Object) -> list[Vector]:
    return [obj.matrix_world @ Vector(corner) for corner in obj.bound_box]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", choices=ENDPOINTS, default="IMAGE_TO_3D")
    parser.add_argument("--image", type=Path, default=REPO_ROOT / "demo" / "robot.png")
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "demo-output")
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)

    with modelslab_service() as (key, base):
        install_extension(Path(tempfile.mkdtemp(prefix="modelslab-demo-build-")))
        prefs = bpy.context.preferences.addons[PACKAGE].preferences
        prefs.api_key, prefs.api_base = key, base
        prefs.download_folder = str(args.output_dir / "jobs")

        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        scene.cursor.location = (0.0, 0.0, 0.0)
        scene.modelslab.image = bpy.data.images.load(str(args.image.resolve()))
        print(f"Generating a model from {args.image.name} with {args.endpoint} ...")
        bpy.ops.modelslab.generate(endpoint=args.endpoint)

        model = bpy.context.view_layer.objects.active
        textured = bool(model.data.uv_layers) and not model.data.color_attributes
        blend_path = args.output_dir / "demo.blend"
        png_path = args.output_dir / "demo.png"
        frame_and_render(model, textured, png_path)
        bpy.ops.wm.save_as_mainfile(filepath=str(blend_path))

    dims = model.dimensions
    print(
        f"\nImported '{model.name}' ({len(model.data.vertices)} vertices, "
        f"{dims.x:.2f} x {dims.y:.2f} x {dims.z:.2f} m) into collection "
        f"'{model.users_collection[0].name}', job {model['modelslab_job_id']}"
    )
    print(f"Saved the scene:  {blend_path}")
    print(f"Rendered image:   {png_path}")
    print(f"Job files:        {args.output_dir / 'jobs'}")


if __name__ == "__main__":
    main()
