"""Optional modules that are absent, remembered as absent, so asking for them again costs nothing.

httpcore asks for `sniffio` (to tell asyncio from trio) each time it makes a lock, several times per HTTP
request; anyio 4 no longer installs sniffio, and Python does not remember a failed import, so each ask
searched sys.path again (about 57 µs; 11,000 asks in a 90 s run of the 40-resource drill). Marking the
module absent in sys.modules makes the same ImportError instant; httpcore then assumes asyncio, as it did.
"""

from __future__ import annotations

import importlib.util
import sys

ASKED_FOR_PER_REQUEST = ("sniffio",)


def remember_missing(names: tuple[str, ...] = ASKED_FOR_PER_REQUEST) -> None:
    """Mark each of `names` that cannot be imported as absent; installed ones are left alone."""
    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None  # type: ignore[assignment]  # None in sys.modules: "not importable"
