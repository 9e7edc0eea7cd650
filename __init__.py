"""ModelsLab 3D: turn an image into a 3D model inside Blender through the ModelsLab API."""

from . import operators, panels, preferences, properties
from .blender import runtime

_modules = (preferences, properties, operators, panels)


def register() -> None:
    for module in _modules:
        module.register()
    runtime.start()


def unregister() -> None:
    runtime.stop()
    for module in reversed(_modules):
        module.unregister()
