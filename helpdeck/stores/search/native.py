"""Load order of native libraries that the embedded search backend depends on.

usearch's extension module links its own copy of libstdc++ statically and exports about a
hundred of its `STB_GNU_UNIQUE` symbols (locale facet ids and their guards). Unique symbols
bind process-wide even from a library opened `RTLD_LOCAL`, so a library loaded *after*
usearch that uses the system's libstdc++.so.6 (onnxruntime, which unstructured's PDF
partitioner imports) gets usearch's facet ids and crashes in `std::locale` during its static
initialisation: `import usearch; import onnxruntime` is a segfault, the other order is not.
Loading the system libstdc++ first, globally, makes its symbols the ones everybody binds to.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_loaded = False


def load_system_libstdcxx() -> None:
    """Open the system libstdc++ with RTLD_GLOBAL once (no-op where there is none)."""
    global _loaded
    if _loaded:
        return
    for name in (ctypes.util.find_library("stdc++"), "libstdc++.so.6"):
        if not name:
            continue
        try:
            ctypes.CDLL(name, mode=os.RTLD_GLOBAL)
        except OSError:
            continue
        break
    _loaded = True
