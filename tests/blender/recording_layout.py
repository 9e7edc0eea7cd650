"""A stand-in for bpy.types.UILayout that records what a panel's draw() puts on screen.

Blender only hands real layouts to panels inside a drawn window, which the bpy module never
has; the panel classes themselves are the real registered ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


@dataclass
class Item:
    kind: str
    text: str = ""
    icon: str = ""
    enabled: bool = True
    alert: bool = False
    properties: SimpleNamespace = field(default_factory=SimpleNamespace)
    args: dict[str, Any] = field(default_factory=dict)


class RecordingLayout:
    def __init__(self, parent: RecordingLayout | None = None) -> None:
        self.items: list[Item] = []
        self.children: list[RecordingLayout] = []
        self.parent = parent
        self.enabled = True
        self.alert = False
        self.scale_y = 1.0

    # containers
    def _child(self, *_args: Any, **_kwargs: Any) -> RecordingLayout:
        child = RecordingLayout(self)
        self.children.append(child)
        self.items.append(Item("layout", args={"layout": child}))
        return child

    row = column = box = split = _child

    def _is_enabled(self) -> bool:
        return self.enabled and (self.parent is None or self.parent._is_enabled())

    def _is_alert(self) -> bool:
        return self.alert or (self.parent is not None and self.parent._is_alert())

    # widgets
    def label(self, text: str = "", icon: str = "NONE", **_kwargs: Any) -> None:
        self.items.append(Item("label", text, icon, self._is_enabled(), self._is_alert()))

    def prop(self, data: Any, name: str, text: str | None = None, **kwargs: Any) -> None:
        self.items.append(Item("prop", name if text is None else text, args={"data": data}))

    def operator(self, idname: str, text: str = "", icon: str = "NONE", **_kw: Any) -> Any:
        item = Item("operator", text or idname, icon, self._is_enabled(), args={"id": idname})
        self.items.append(item)
        return item.properties

    def progress(self, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:
        self.items.append(Item("progress", text, args={"factor": factor}))

    def template_ID(self, data: Any, name: str, **_kwargs: Any) -> None:
        self.items.append(Item("template_ID", name))

    def template_icon(self, icon_value: int = 0, scale: float = 1.0) -> None:
        self.items.append(Item("icon", args={"icon_value": icon_value}))

    def icon(self, data: Any) -> int:
        return 1

    def separator(self, **_kwargs: Any) -> None:
        pass

    # reading back
    def walk(self) -> list[Item]:
        found: list[Item] = []
        for item in self.items:
            if item.kind == "layout":
                found.extend(item.args["layout"].walk())
            else:
                found.append(item)
        return found

    def texts(self, kind: str = "label") -> list[str]:
        return [item.text for item in self.walk() if item.kind == kind]

    def operators(self) -> dict[str, Item]:
        return {item.args["id"]: item for item in self.walk() if item.kind == "operator"}


def draw(panel_class: type, context: Any) -> RecordingLayout:
    """Run a registered panel's draw() against a recording layout."""
    layout = RecordingLayout()
    panel_class.draw(SimpleNamespace(layout=layout), context)
    return layout
