"""`python -m emulator --port 8765 --default-scenario processing`: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time

from .scenarios import ScenarioError
from .server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Serve the local ModelsLab API emulator."
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--default-scenario",
        default="instant",
        help="scenario for keys that name none, options allowed (e.g. 'processing?polls=3')",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        emulator = Emulator(args.port, args.default_scenario, log=None if args.quiet else log)
    except ScenarioError as exc:
        parser.error(str(exc))
    emulator.start()
    print(emulator.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
