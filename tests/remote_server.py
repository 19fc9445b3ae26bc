"""A small HTTP server on 127.0.0.1 for remote-read tests: serves one folder, honours ``Range``, counts requests.

``with serve(folder) as server:`` gives ``server.url(name)`` and ``server.stats`` (requests, bytes sent, by method),
reset with ``server.reset()``. Range requests get ``206 Partial Content`` with exactly the bytes asked for, as S3
and DANDI do; a ``HEAD`` tells the size.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.bytes = 0
        self.ranges: list[tuple[int, int]] = []

    @property
    def n_requests(self) -> int:
        return sum(self.requests.values())


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _target(self) -> Path | None:
        path = (self.server.root / self.path.lstrip("/").split("?")[0]).resolve()
        return path if path.is_file() and self.server.root in path.parents else None

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        path = self._target()
        stats = self.server.stats
        with stats.lock:
            stats.requests[self.command] += 1
        if path is None:
            self.send_error(404)
            return
        size = path.stat().st_size
        start, stop = 0, size
        rng = self.headers.get("Range")
        if rng:
            m = _RANGE.match(rng.strip())
            if m is None or (not m.group(1) and not m.group(2)):
                self.send_error(416)
                return
            if m.group(1):
                start = int(m.group(1))
                stop = min(size, int(m.group(2)) + 1) if m.group(2) else size
            else:
                start, stop = max(0, size - int(m.group(2))), size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Content-Type", "application/x-hdf5")
        self.end_headers()
        if not body:
            return
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(stop - start)
        self.wfile.write(data)
        with stats.lock:
            stats.bytes += len(data)
            stats.ranges.append((start, stop))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root.resolve()
        self.stats = _Stats()

    def url(self, name: str | os.PathLike) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{Path(name).name}"

    def reset(self) -> None:
        self.stats = _Stats()


@contextlib.contextmanager
def serve(root: str | os.PathLike) -> Iterator[_Server]:
    """Serve ``root`` on a free port of 127.0.0.1 for the duration of the block."""
    server = _Server(Path(root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
