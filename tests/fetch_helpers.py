"""A file server on 127.0.0.1 for the download tests (tests/unit/test_fetch.py,
tests/integration/test_model_downloads.py; the ``server`` fixture in tests/conftest.py starts one)."""
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from codec_conformance import fetch


class FileServer:
    """Serves ``files`` (URL path -> bytes) with HTTP Range; ``drop_once[path] = n`` sends only
    the first n bytes of the next full response to that path and closes the connection;
    ``range_from_zero`` holds paths whose ranged answers (206) start at byte 0 whatever was
    asked; ``handlers[path](handler)`` answers that path itself (hostile servers);
    ``authorization`` lists the Authorization header of each request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_once: dict[str, int] = {}
        self.range_from_zero: set[str] = set()
        self.handlers: dict = {}
        self.authorization: list[str | None] = []
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                server.authorization.append(self.headers.get("Authorization"))
                if len(server.requests) > 200:  # bounded: a retry loop would stop here
                    self.send_error(429)
                    return
                if self.path in server.handlers:
                    try:
                        server.handlers[self.path](self)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client hung up (as it should on a refused body)
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(body) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                if start and self.path in server.range_from_zero:
                    start = 0
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(206 if start else 200)
                part = body[start:]
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                cut = server.drop_once.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(part[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, canonical_url: str, body: bytes) -> str:
        """Serve ``body`` where the mirror maps ``canonical_url``; returns that path."""
        path = fetch.rewrite(canonical_url, "http://mirror").split("http://mirror", 1)[1]
        self.files[path] = body
        return path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()
