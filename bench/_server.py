"""What the benchmarks share: waiting for a server process to answer /health."""

from __future__ import annotations

import multiprocessing.process
import time
import urllib.request


def wait_ready(base_url: str, server: multiprocessing.process.BaseProcess, timeout: float = 120) -> None:
    """Poll /health until it answers 200; fail early if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise RuntimeError("server process exited during start-up")
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not start")
