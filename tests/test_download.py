"""Downloading a GroupLens archive: verified before it enters the cache, nothing partial left
behind, one cache entry per URL, plain http only with a pinned SHA-256. Served on loopback."""

import functools
import hashlib
import http.server
import io
import os
import shutil
import ssl
import subprocess
import threading
import zipfile

import pytest

from movielens import source as data_source


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cache_files(cache):
    return sorted(os.listdir(cache)) if os.path.isdir(cache) else []


def test_plain_http_is_refused_without_a_pinned_sha256(server, tmp_path):
    root, base = server
    (root / "ml-100k.zip").write_bytes(b"zip bytes")
    with pytest.raises(data_source.DataSourceError, match="plain http"):
        data_source.download(f"{base}/ml-100k.zip", str(tmp_path / "cache"))
    path = data_source.download(f"{base}/ml-100k.zip", str(tmp_path / "cache"),
                                _sha256(b"zip bytes"))
    with open(path, "rb") as f:
        assert f.read() == b"zip bytes"


def test_a_wrong_checksum_leaves_nothing_in_the_cache(server, tmp_path):
    root, base = server
    (root / "ml-100k.zip").write_bytes(b"tampered")
    cache = str(tmp_path / "cache")
    with pytest.raises(data_source.DataSourceError, match="SHA-256"):
        data_source.download(f"{base}/ml-100k.zip", cache, _sha256(b"the real archive"))
    assert _cache_files(cache) == []


def test_two_urls_with_the_same_file_name_get_their_own_cache_entries(server, tmp_path):
    root, base = server
    for folder, data in (("a", b"first"), ("b", b"second")):
        (root / folder).mkdir()
        (root / folder / "ml-100k.zip").write_bytes(data)
    cache = str(tmp_path / "cache")
    first = data_source.download(f"{base}/a/ml-100k.zip", cache, _sha256(b"first"))
    second = data_source.download(f"{base}/b/ml-100k.zip", cache, _sha256(b"second"))
    assert first != second
    with open(first, "rb") as f, open(second, "rb") as g:
        assert (f.read(), g.read()) == (b"first", b"second")
    assert os.path.basename(first).endswith("ml-100k.zip")


def test_an_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    """Interrupted (Ctrl-C) after the first bytes arrived: no temporary file stays behind."""
    import io
    import urllib.request

    class Interrupted(io.BytesIO):
        def read(self, *args):
            if self.tell() == 0:
                return super().read(10)
            raise KeyboardInterrupt

    monkeypatch.setattr(urllib.request.OpenerDirector, "open",
                        lambda self, url, *args, **kwargs: Interrupted(b"x" * 1000))
    cache = str(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        data_source.download("https://example.org/ml-100k.zip", cache, _sha256(b"x" * 1000))
    assert _cache_files(cache) == []


@pytest.fixture
def https_server(tmp_path, monkeypatch):
    """An HTTPS server on 127.0.0.1 (a self-signed certificate this process trusts): its
    `routes` map a path to (status, headers, body); yields (routes, base URL, hits per path)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    routes, hits = {}, {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits[self.path] = hits.get(self.path, 0) + 1
            status, headers, body = routes.get(self.path, (404, {}, b""))
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(cert), str(key))
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(ssl, "_create_default_https_context", lambda *args, **kw: trusting)
    yield routes, f"https://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def test_a_redirect_from_https_to_plain_http_is_refused(https_server, server, tmp_path):
    routes, base, hits = https_server
    root, plain = server
    (root / "ml-100k.zip").write_bytes(b"swapped on the way")
    routes["/ml-100k.zip"] = (302, {"Location": f"{plain}/ml-100k.zip"}, b"")
    routes["/moved.zip"] = (301, {"Location": f"{base}/ml-100k.zip"}, b"")
    cache = str(tmp_path / "cache")
    for path in ("/ml-100k.zip", "/moved.zip"):  # at once, or after an https hop
        with pytest.raises(data_source.DataSourceError,
                           match=f"refusing the redirect .* to {plain}/ml-100k.zip"):
            data_source.download(f"{base}{path}", cache)
    assert _cache_files(cache) == []
    # To https it is followed.
    archive = _zip({"ml-100k/u.data": "1\t1\t5\t0\n"})
    routes["/ml-100k.zip"] = (200, {}, archive)
    with open(data_source.download(f"{base}/moved.zip", cache), "rb") as f:
        assert f.read() == archive


def _zip(members) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return data.getvalue()


@pytest.mark.parametrize("body", [b"<html>503 Service Unavailable</html>",
                                  _zip({"README.txt": "no ratings here"})],
                         ids=["not-a-zip", "not-grouplens"])
def test_an_unpinned_download_that_cannot_be_opened_is_not_cached(https_server, tmp_path,
                                                                   body):
    routes, base, hits = https_server
    routes["/ml-100k.zip"] = (200, {}, body)
    cache = str(tmp_path / "cache")
    for attempt in (1, 2):
        with pytest.raises(data_source.DataSourceError, match="not kept"):
            data_source.resolve(f"{base}/ml-100k.zip", cache)
        assert _cache_files(os.path.join(cache, "downloads")) == []
        assert hits["/ml-100k.zip"] == attempt  # each run downloads it again
