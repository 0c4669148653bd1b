"""Downloading a GroupLens archive: verified before it enters the cache, nothing partial left
behind, one cache entry per URL, plain http only with a pinned SHA-256. Served on loopback."""

import functools
import hashlib
import http.server
import os
import threading

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

    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout: Interrupted(b"x" * 1000))
    cache = str(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        data_source.download("https://example.org/ml-100k.zip", cache, _sha256(b"x" * 1000))
    assert _cache_files(cache) == []
