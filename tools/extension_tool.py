"""Validate and build the extension with Blender's own extension tool.

The tool (`blender_ext.py`) and the list of valid tags ship inside the `bpy` wheel, so the
build uses exactly the checks of the Blender version installed in the current venv.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _bpy_scripts_dir() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise SystemExit("bpy is not installed in this Python; run this through ./dev")
    package_dir = Path(spec.origin).parent
    versions = sorted(p for p in package_dir.iterdir() if (p / "scripts").is_dir())
    if not versions:
        raise SystemExit(f"no Blender scripts folder inside {package_dir}")
    return versions[-1] / "scripts"


def blender_ext_script() -> Path:
    return _bpy_scripts_dir() / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def valid_tags_file() -> Path:
    return _bpy_scripts_dir() / "modules" / "_bpy_internal" / "extensions" / "tags.py"


def manifest(source_dir: Path = REPO_ROOT) -> dict:
    with open(source_dir / "blender_manifest.toml", "rb") as handle:
        return tomllib.load(handle)


def _run(*args: str) -> str:
    command = [sys.executable, str(blender_ext_script()), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "FATAL_ERROR" in output or output.startswith("Error"):
        raise RuntimeError(f"blender_ext {args[0]} failed:\n{output}")
    return output


def validate(path: Path = REPO_ROOT) -> str:
    """Validate a source folder or a built zip; raises RuntimeError with the tool's report."""
    return _run("validate", str(path), "--valid-tags", str(valid_tags_file()))


def build(output_dir: Path, source_dir: Path = REPO_ROOT) -> Path:
    """Build `<id>-<version>.zip` into output_dir, validate the zip, and return its path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = manifest(source_dir)
    zip_path = output_dir / f"{meta['id']}-{meta['version']}.zip"
    zip_path.unlink(missing_ok=True)
    _run(
        "build",
        "--source-dir",
        str(source_dir),
        "--output-filepath",
        str(zip_path),
        "--valid-tags",
        str(valid_tags_file()),
    )
    validate(zip_path)
    return zip_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("validate", help="validate the source folder")
    build_parser = sub.add_parser("build", help="validate and build the zip")
    build_parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "dist")
    args = parser.parse_args()
    if args.command == "validate":
        print(validate())
    else:
        zip_path = build(args.output_dir)
        print(f"built and validated {zip_path}")


if __name__ == "__main__":
    main()
