"""A local stand-in for the ModelsLab API, for tests, demos and benchmarks (never shipped).

from emulator import Emulator
with Emulator(port=0, default_scenario="instant") as emu:
    emu.base_url  # "http://127.0.0.1:<port>"
"""

from .server import Emulator, RecordedRequest

__all__ = ["Emulator", "RecordedRequest"]
