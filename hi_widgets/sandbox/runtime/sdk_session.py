"""botocore sessions that share one data loader, so service models are read once.

A new botocore session reads its service's JSON model again (medical-imaging ~0.07 s a
client, S3's much larger model more); the sandbox makes a client per call of
:meth:`~hi_widgets.sandbox.Sandbox.client` and per S3 import job, so its sessions share
the process's one loader. Sessions are not thread-safe: make one per client (or lock).
"""

from __future__ import annotations

import threading
from typing import Any

_LOADER_LOCK = threading.Lock()
_LOADER: Any = None


def shared_botocore_session() -> Any:
    """Return a new botocore session sharing the process's one botocore data loader."""
    import botocore.loaders
    import botocore.session

    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
    session = botocore.session.get_session()
    session.register_component("data_loader", _LOADER)
    return session
