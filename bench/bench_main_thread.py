"""How long Blender's main thread is busy while jobs run: the figures behind "never freezes".

Installs the built extension into an isolated profile of the bpy module, runs jobs against the
emulator through the UI path (`wait=False` + the pump the timer runs), and prints:
- the main-thread time of starting a job (reading the texture's pixels), per texture size;
- the time of each pump() call while jobs upload, poll and download (import excluded);
- the time of the pump call that imports the model.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="modelslab-bench-profile-")

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from emulator import Emulator  # noqa: E402
from tools.extension_tool import build  # noqa: E402

PACKAGE = "bl_ext.user_default.modelslab_3d"


def texture(side: int) -> bpy.types.Image:
    image = bpy.data.images.new(f"texture_{side}", side, side, alpha=True)
    rng = np.random.default_rng(side)
    pixels = rng.random((side, side, 4), dtype=np.float32)
    pixels[..., 3] = 1.0
    image.pixels.foreach_set(pixels.ravel())
    return image


def run_job(runtime, scene, image, key: str, prefs) -> tuple[float, list[float], float]:
    prefs.api_key = key
    scene.modelslab.image = image
    started = time.perf_counter()
    bpy.ops.modelslab.generate(endpoint="IMAGE_TO_3D", wait=False)
    start_cost = time.perf_counter() - started
    (job_id,) = [j for j in runtime.get().jobs if runtime.get().jobs[j].imported_at is None]
    pumps, import_cost = [], 0.0
    while runtime.get().jobs[job_id].imported_at is None:
        before_state = runtime.get().jobs[job_id].state
        tick = time.perf_counter()
        runtime.pump()
        spent = time.perf_counter() - tick
        if runtime.get().jobs[job_id].imported_at is not None:
            import_cost = spent
        elif before_state.value != "DONE":
            pumps.append(spent)
        time.sleep(0.01)
    return start_cost, pumps, import_cost


def main() -> None:
    zip_path = build(Path(tempfile.mkdtemp(prefix="modelslab-bench-build-")))
    bpy.context.preferences.system.use_online_access = True
    bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    import importlib

    runtime = importlib.import_module(PACKAGE + ".blender.runtime")
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    with Emulator(port=0) as emulator:
        prefs.api_base = emulator.base_url
        prefs.download_folder = tempfile.mkdtemp(prefix="modelslab-bench-jobs-")
        scene = bpy.context.scene
        print("texture   start job (ms)   pump calls   pump p50 / p99 / max (ms)   import (ms)")
        for side in (512, 1024, 2048, 4096):
            image = texture(side)
            start, pumps, imported = run_job(runtime, scene, image, "processing?seconds=2", prefs)
            pumps.sort()
            p99 = pumps[min(len(pumps) - 1, int(len(pumps) * 0.99))]
            print(
                f"{side:>5} px  {start * 1000:14.1f}   {len(pumps):10d}   "
                f"{statistics.median(pumps) * 1000:6.2f} / {p99 * 1000:5.2f} / "
                f"{pumps[-1] * 1000:5.2f}          {imported * 1000:8.1f}"
            )
            bpy.data.images.remove(image)


if __name__ == "__main__":
    main()
