"""The sidebar panels."""

import bpy

from . import sidebar

classes = sidebar.classes
register, unregister = bpy.utils.register_classes_factory(classes)
