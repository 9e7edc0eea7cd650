"""The README's scripting table, made from the endpoint table so the two never disagree.

`python tools/endpoint_table.py` prints it; `--write` replaces it in README.md between the
markers. A test fails when the README's copy is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from api.endpoints import ENDPOINTS, Param  # noqa: E402

BEGIN = "<!-- endpoint-table:begin -->"
END = "<!-- endpoint-table:end -->"


def _range(param: Param) -> str:
    if param.kind == "enum":
        return " / ".join(f"`{choice}`" for choice in param.choices)
    if param.kind in ("int", "float"):
        low = "" if param.minimum is None else f"{param.minimum:g}"
        high = "" if param.maximum is None else f"{param.maximum:g}"
        return f"{low} .. {high}" if low or high else "any"
    return "required" if param.required else ""


def table() -> str:
    lines = []
    for endpoint in ENDPOINTS.values():
        lines += [
            f"**`{endpoint.id}`** — {endpoint.label}: {endpoint.description}. "
            f"Settings: `scene.modelslab.{endpoint.group}`",
            "",
            "| field | type | default | range | |",
            "|---|---|---|---|---|",
        ]
        for param in endpoint.params:
            default = repr(param.default) if param.kind != "bool" else str(param.default)
            folded = "advanced" if param.advanced else ""
            lines.append(
                f"| `{param.name}` | {param.kind} | `{default}` | {_range(param)} | {folded} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def readme_with_table(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + table() + readme[end:]


def main() -> None:
    if "--write" in sys.argv:
        path = REPO_ROOT / "README.md"
        path.write_text(readme_with_table(path.read_text()))
    else:
        print(table())


if __name__ == "__main__":
    main()
