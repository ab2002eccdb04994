"""A local stand-in for the Hugging Face hub: serves a weight folder on 127.0.0.1.

Answers what ``huggingface_hub.hf_hub_download`` asks of the hub, ``HEAD``
and ``GET /{repo}/resolve/{revision}/{file}``, with the headers it reads
(``X-Repo-Commit``, ``ETag``, ``Content-Length``), and a 404 marked
``EntryNotFound`` for a file the folder lacks (so py-feat's fallback names are
tried as on the real hub). Files come from a folder in the hub-cache layout
(``models--org--name/snapshots/<rev>/<file>``). Point ``HF_ENDPOINT`` at
:attr:`HubMirror.endpoint`.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

__all__ = ["HubMirror"]

COMMIT = "1" * 40


class HubMirror:
    """Serve ``folder`` as a hub until :meth:`close`; ``requests`` lists the paths asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _file(self) -> Path | None:
                mirror.requests.append(f"{self.command} {self.path}")
                parts = unquote(self.path.split("?")[0]).strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                repo, name = f"{parts[0]}--{parts[1]}", "/".join(parts[4:])
                snapshots = mirror.folder / f"models--{repo}" / "snapshots"
                found = sorted(snapshots.glob(f"*/{name}")) if snapshots.is_dir() else []
                return found[0] if found else None

            def _headers(self, path: Path | None) -> None:
                if path is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Error-Message", "Entry not found")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data_size = path.stat().st_size
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(path.read_bytes()).hexdigest()}"')
                self.send_header("Content-Length", str(data_size))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()

            def do_HEAD(self) -> None:
                self._headers(self._file())

            def do_GET(self) -> None:
                path = self._file()
                self._headers(path)
                if path is not None:
                    with open(path, "rb") as handle:
                        while block := handle.read(1 << 20):
                            self.wfile.write(block)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
