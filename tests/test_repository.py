"""Promises the repository makes: the README's table is current, CI runs the README's command,
and the shipped api never needs Blender."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.endpoint_table import readme_with_table

ROOT = Path(__file__).resolve().parent.parent
TEST_COMMAND = "./dev test --all"


def test_readme_parameter_table_matches_the_endpoints():
    readme = (ROOT / "README.md").read_text()
    assert readme == readme_with_table(readme), "run: python tools/endpoint_table.py --write"


def test_ci_runs_the_readme_test_command():
    assert TEST_COMMAND in (ROOT / "README.md").read_text()
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


def test_api_and_utils_import_without_bpy():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import types;"
        "p = types.ModuleType('modelslab_3d'); p.__path__ = [sys.argv[1]];"
        "sys.modules['modelslab_3d'] = p;"
        "import modelslab_3d.api.client, modelslab_3d.api.jobs, modelslab_3d.utils.jobview,"
        " modelslab_3d.utils.multiview;"
        "assert 'bpy' not in sys.modules, 'bpy was imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT)], check=True)
