"""Local emulators of every system the connector talks to: same wire format, same errors, same
limits.

``Sandbox`` (in ``runner``) starts them all; each emulator package has ``create_app(config=None)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Sandbox"]


def __getattr__(name: str) -> Any:
    # lazy, so importing one emulator never drags in the others
    if name == "Sandbox":
        from connector_sandbox.runner import Sandbox

        return Sandbox
    raise AttributeError(name)
