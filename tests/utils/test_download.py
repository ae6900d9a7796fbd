"""download_url: verification, caching, resume, retries, mirrors and the cross-process lock.

Every test talks to an HTTP server on 127.0.0.1 started here; nothing reaches the internet.
"""
import hashlib
import http.server
import logging
import multiprocessing
import os
import re
import threading
import time

import pytest

from mindcv.utils import download as dl
from mindcv.utils.download import DownloadError, HashMismatchError, download_url, file_lock

PAYLOAD = os.urandom(300_000) + b"mixnet"
FAST = dict(backoff=0.01, timeout=(5, 5), progress=False)


class FakeServer:
    """Serves `files` with Range support; can fail, truncate, ignore Range, slow down; counts requests."""

    def __init__(self):
        self.files = {}
        self.requests = []  # (path, Range header or None)
        self.fail_statuses = []  # statuses answered (one per request) before serving normally
        self.truncate_next = 0  # number of responses cut in half (full Content-Length announced)
        self.ignore_range = False
        self.chunk_delay = 0.0
        self.stall_next = 0  # number of responses that send headers, then stall for `stall_seconds`
        self.stall_seconds = 1.0
        self.lock = threading.Lock()
        handler = self._handler_class()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def gets(self, path: str) -> list:
        return [r for r in self.requests if r[0] == path]

    def _handler_class(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.requests.append((self.path, self.headers.get("Range")))
                    status = server.fail_statuses.pop(0) if server.fail_statuses else None
                    truncate = server.truncate_next > 0
                    server.truncate_next -= int(truncate)
                    stall = server.stall_next > 0
                    server.stall_next -= int(stall)
                if status is not None:
                    return self._empty(status)
                body = server.files.get(self.path)
                if body is None:
                    return self._empty(404)
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(body):
                        return self._empty(416)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if stall:
                    self.wfile.flush()
                    time.sleep(server.stall_seconds)
                    self.close_connection = True
                    return
                if truncate:
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                for i in range(0, len(rest), 65536):
                    self.wfile.write(rest[i:i + 65536])
                    if server.chunk_delay:
                        time.sleep(server.chunk_delay)

            def _empty(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


@pytest.fixture
def server():
    srv = FakeServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for key in (dl.MIRROR_ENV, dl.OFFLINE_ENV, dl.LOCK_TIMEOUT_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(dl.HOME_ENV, str(tmp_path / "home"))


@pytest.fixture
def logs(caplog):
    """Capture the package logger (it does not propagate to the root logger)."""
    pkg = logging.getLogger("mindcv")
    pkg.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="mindcv")
    yield caplog
    pkg.removeHandler(caplog.handler)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_first_download_verified_then_cached_without_request(server, tmp_path):
    server.files["/w/model.ckpt"] = PAYLOAD
    url = server.url("/w/model.ckpt")
    path = download_url(url, str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert path == str(tmp_path / "model.ckpt")
    assert read(path) == PAYLOAD
    assert not os.path.exists(path + ".part")
    again = download_url(url, str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert again == path
    assert len(server.gets("/w/model.ckpt")) == 1


def test_name_hash_prefix_is_checked_as_sha256(server, tmp_path):
    good = f"/tiny-{sha(PAYLOAD)[:8]}-910v2.ckpt"
    server.files[good] = PAYLOAD
    assert read(download_url(server.url(good), str(tmp_path), **FAST)) == PAYLOAD
    bad_prefix = "00000000" if not sha(PAYLOAD).startswith("00000000") else "11111111"
    bad = f"/tiny-{bad_prefix}.ckpt"
    server.files[bad] = PAYLOAD
    with pytest.raises(HashMismatchError, match=bad_prefix) as info:
        download_url(server.url(bad), str(tmp_path), **FAST)
    assert "sha256" in str(info.value) and server.url(bad) in str(info.value)
    assert not os.path.exists(tmp_path / bad.lstrip("/"))
    assert not os.path.exists(str(tmp_path / bad.lstrip("/")) + ".part")
    # sha256_prefix="" opts out of the name check
    assert read(download_url(server.url(bad), str(tmp_path), sha256_prefix="", **FAST)) == PAYLOAD


def test_name_prefix_of_md5_is_accepted_with_a_warning(server, tmp_path, logs):
    name = f"/old-{hashlib.md5(PAYLOAD).hexdigest()[:8]}.ckpt"
    server.files[name] = PAYLOAD
    assert read(download_url(server.url(name), str(tmp_path), **FAST)) == PAYLOAD
    assert any("MD5" in r.getMessage() and r.levelno == logging.WARNING for r in logs.records)


def test_sha256_prefix_from_name_on_mindcv_names():
    assert dl.sha256_prefix_from_name("mixnet_s-2a5ef3a3.ckpt") == "2a5ef3a3"
    assert dl.sha256_prefix_from_name("mixnet_s-fe4fcc63-910v2.ckpt") == "fe4fcc63"
    assert dl.sha256_prefix_from_name("mixnet_l-978edf2b.ckpt") == "978edf2b"
    assert dl.sha256_prefix_from_name("resnet-50.ckpt") is None
    assert dl.sha256_prefix_from_name("model.ckpt") is None


def test_resume_partial_download_with_range(server, tmp_path):
    server.files["/r.bin"] = PAYLOAD
    half = len(PAYLOAD) // 3
    (tmp_path / "r.bin.part").write_bytes(PAYLOAD[:half])
    path = download_url(server.url("/r.bin"), str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert read(path) == PAYLOAD
    assert server.gets("/r.bin") == [("/r.bin", f"bytes={half}-")]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path, logs):
    server.files["/r.bin"] = PAYLOAD
    server.ignore_range = True
    (tmp_path / "r.bin.part").write_bytes(b"x" * 1000)  # wrong bytes: must not be kept
    path = download_url(server.url("/r.bin"), str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert read(path) == PAYLOAD
    assert server.gets("/r.bin") == [("/r.bin", "bytes=1000-")]
    assert any("ignored the Range" in r.getMessage() for r in logs.records)


def test_partial_file_larger_than_remote_restarts(server, tmp_path):
    server.files["/r.bin"] = PAYLOAD
    (tmp_path / "r.bin.part").write_bytes(PAYLOAD + b"extra")  # server answers 416
    path = download_url(server.url("/r.bin"), str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert read(path) == PAYLOAD
    assert [r[1] for r in server.gets("/r.bin")] == [f"bytes={len(PAYLOAD) + 5}-", None]


def test_resumed_file_failing_hash_is_fetched_again_from_zero(server, tmp_path):
    server.files["/r.bin"] = PAYLOAD
    (tmp_path / "r.bin.part").write_bytes(b"y" * 5000)  # stale partial file of another content
    path = download_url(server.url("/r.bin"), str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert read(path) == PAYLOAD
    assert [r[1] for r in server.gets("/r.bin")] == ["bytes=5000-", None]


def test_hash_mismatch_deletes_file_and_names_url_and_hash(server, tmp_path):
    server.files["/m.bin"] = PAYLOAD
    wanted = sha(b"another file")
    with pytest.raises(HashMismatchError) as info:
        download_url(server.url("/m.bin"), str(tmp_path), sha256=wanted, **FAST)
    message = str(info.value)
    assert server.url("/m.bin") in message and wanted in message and sha(PAYLOAD) in message
    assert str(tmp_path / "m.bin") in message  # where to put a copy fetched by hand
    assert not os.path.exists(tmp_path / "m.bin") and not os.path.exists(tmp_path / "m.bin.part")


def test_transient_500_is_retried(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.fail_statuses = [500, 503]
    path = download_url(server.url("/f.bin"), str(tmp_path), sha256=sha(PAYLOAD), retries=3, **FAST)
    assert read(path) == PAYLOAD
    assert len(server.gets("/f.bin")) == 3


def test_too_many_failures_give_one_clear_error(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.fail_statuses = [500] * 5
    with pytest.raises(DownloadError, match="500") as info:
        download_url(server.url("/f.bin"), str(tmp_path), sha256=sha(PAYLOAD), retries=2, **FAST)
    assert "3 attempts" in str(info.value) and sha(PAYLOAD) in str(info.value)
    assert len(server.gets("/f.bin")) == 3


def test_incomplete_read_resumes_on_retry(server, tmp_path):
    server.files["/t.bin"] = PAYLOAD
    server.truncate_next = 1
    path = download_url(server.url("/t.bin"), str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert read(path) == PAYLOAD
    ranges = [r[1] for r in server.gets("/t.bin")]
    assert ranges[0] is None and len(ranges) == 2 and ranges[1].startswith("bytes=")


def test_stalled_read_times_out_and_is_retried(server, tmp_path):
    server.files["/s.bin"] = PAYLOAD
    server.stall_next = 1
    start = time.monotonic()
    path = download_url(server.url("/s.bin"), str(tmp_path), sha256=sha(PAYLOAD), backoff=0.01, timeout=(5, 0.3),
                        progress=False)
    assert read(path) == PAYLOAD
    assert len(server.gets("/s.bin")) == 2
    assert time.monotonic() - start < server.stall_seconds + 0.5  # gave up on the stalled read early


def test_no_progress_bar_when_stderr_is_not_a_terminal(server, tmp_path, capsys):
    server.files["/q.bin"] = PAYLOAD
    download_url(server.url("/q.bin"), str(tmp_path), backoff=0.01, progress=None)
    assert "100%" not in capsys.readouterr().err


def test_404_fails_at_once_naming_the_url(server, tmp_path):
    url = server.url("/missing-12345678.ckpt")
    with pytest.raises(DownloadError) as info:
        download_url(url, str(tmp_path), retries=3, **FAST)
    message = str(info.value)
    assert url in message and "404" in message and "12345678" in message
    assert len(server.gets("/missing-12345678.ckpt")) == 1


def test_connection_refused_is_retried_then_reported(tmp_path):
    probe = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens on this port now
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(DownloadError, match="2 attempts") as info:
        download_url(url, str(tmp_path), retries=1, **FAST)
    assert url in str(info.value)


def test_corrupt_cached_file_is_downloaded_again_once(server, tmp_path):
    server.files["/c.bin"] = PAYLOAD
    (tmp_path / "c.bin").write_bytes(b"corrupt")
    path = download_url(server.url("/c.bin"), str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert read(path) == PAYLOAD
    assert len(server.gets("/c.bin")) == 1


def test_cached_file_without_known_hash_is_used_without_request(server, tmp_path):
    server.files["/n.bin"] = PAYLOAD
    (tmp_path / "n.bin").write_bytes(b"kept as is")
    assert read(download_url(server.url("/n.bin"), str(tmp_path), **FAST)) == b"kept as is"
    assert server.requests == []


def test_local_path_and_file_url(tmp_path):
    src = tmp_path / "src" / f"local-{sha(PAYLOAD)[:8]}.ckpt"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    out = download_url(str(src), str(tmp_path / "cache1"))
    assert read(out) == PAYLOAD and out == str(tmp_path / "cache1" / src.name)
    out2 = download_url(src.as_uri(), str(tmp_path / "cache2"))
    assert read(out2) == PAYLOAD
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        download_url(str(tmp_path / "nope.ckpt"), str(tmp_path / "cache3"))


def test_mirror_directory_replaces_default_host(tmp_path, monkeypatch):
    name = f"mixnet_s-{sha(PAYLOAD)[:8]}.ckpt"
    nested = tmp_path / "mirror" / "mixnet"
    nested.mkdir(parents=True)
    (nested / name).write_bytes(PAYLOAD)
    monkeypatch.setenv(dl.MIRROR_ENV, str(tmp_path / "mirror"))
    for host in dl.DEFAULT_HOSTS:
        path = download_url(f"{host}/mixnet/{name}", str(tmp_path / host.split("//")[1].split("/")[0]))
        assert read(path) == PAYLOAD
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / name).write_bytes(PAYLOAD)
    monkeypatch.setenv(dl.MIRROR_ENV, str(flat))
    assert read(download_url(f"{dl.DEFAULT_HOSTS[0]}/mixnet/{name}", str(tmp_path / "c"))) == PAYLOAD
    with pytest.raises(FileNotFoundError, match=dl.MIRROR_ENV) as info:
        download_url(f"{dl.DEFAULT_HOSTS[0]}/mixnet/absent.ckpt", str(tmp_path / "c"))
    assert "absent.ckpt" in str(info.value)


def test_mirror_url_replaces_default_host(server, tmp_path, monkeypatch):
    server.files["/m/mixnet/w.ckpt"] = PAYLOAD
    monkeypatch.setenv(dl.MIRROR_ENV, server.url("/m/"))
    path = download_url(f"{dl.DEFAULT_HOSTS[0]}/mixnet/w.ckpt", str(tmp_path), sha256=sha(PAYLOAD), **FAST)
    assert read(path) == PAYLOAD and len(server.gets("/m/mixnet/w.ckpt")) == 1


def test_bad_mirror_value_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(dl.MIRROR_ENV, str(tmp_path / "no-such-dir"))
    with pytest.raises(DownloadError, match=dl.MIRROR_ENV):
        download_url(f"{dl.DEFAULT_HOSTS[0]}/mixnet/w.ckpt", str(tmp_path))


def test_cache_home_env_and_default_root(server, tmp_path, monkeypatch):
    monkeypatch.setenv(dl.HOME_ENV, str(tmp_path / "h"))
    assert dl.get_checkpoint_dir() == str(tmp_path / "h" / "models")
    server.files["/d.bin"] = PAYLOAD
    path = download_url(server.url("/d.bin"), **FAST)
    assert path == str(tmp_path / "h" / "models" / "d.bin")
    monkeypatch.delenv(dl.HOME_ENV)
    assert dl.get_checkpoint_dir() == os.path.join(os.path.expanduser("~"), ".mindspore", "models")


def test_offline_env_forbids_network(server, tmp_path, monkeypatch):
    server.files["/o.bin"] = PAYLOAD
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    with pytest.raises(DownloadError, match=dl.OFFLINE_ENV) as info:
        download_url(server.url("/o.bin"), str(tmp_path), **FAST)
    assert str(tmp_path / "o.bin") in str(info.value)
    assert server.requests == []


def test_lock_held_elsewhere_times_out_clearly(server, tmp_path):
    server.files["/l.bin"] = PAYLOAD
    with file_lock(str(tmp_path / "l.bin.lock"), 1.0, "test"):
        start = time.monotonic()
        with pytest.raises(DownloadError, match="timed out"):
            download_url(server.url("/l.bin"), str(tmp_path), lock_timeout=0.3, **FAST)
        assert time.monotonic() - start < 5
    assert server.requests == []


def test_two_processes_share_one_download(server, tmp_path):
    server.files["/p.bin"] = PAYLOAD
    server.chunk_delay = 0.05  # ~0.25 s transfer, so the second process arrives while the first downloads
    url = server.url("/p.bin")
    ctx = multiprocessing.get_context("spawn")
    args = (url, str(tmp_path), None, sha(PAYLOAD), None, 0, (5, 5), False, 0.01, 60.0)
    with ctx.Pool(2) as pool:
        paths = pool.starmap(download_url, [args, args])
    assert paths == [str(tmp_path / "p.bin")] * 2
    assert read(paths[0]) == PAYLOAD
    assert len(server.gets("/p.bin")) == 1


def test_progress_bar_when_asked(server, tmp_path, capsys):
    server.files["/b.bin"] = PAYLOAD
    download_url(server.url("/b.bin"), str(tmp_path), backoff=0.01, progress=True)
    err = capsys.readouterr().err
    assert "b.bin" in err and "100%" in err


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(ValueError, match="sha256 must be 64 hex"):
        download_url("http://127.0.0.1:9/x.bin", str(tmp_path), sha256="abc")
    with pytest.raises(ValueError, match="url"):
        download_url("", str(tmp_path))
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        download_url("ftp://127.0.0.1/x.bin", str(tmp_path))
    with pytest.raises(ValueError, match="timeout"):
        download_url("http://127.0.0.1:9/x.bin", str(tmp_path), timeout=(1, 2, 3))


def test_tls_verification_stays_on(server, tmp_path):
    """A self-signed HTTPS server is refused at once (no retries), never downloaded from."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.files["/s.bin"] = PAYLOAD
    url = "https" + server.url("/s.bin")[len("http"):]
    with pytest.raises(DownloadError, match="certificate verification failed") as info:
        download_url(url, str(tmp_path / "c"), retries=3, **FAST)
    assert url in str(info.value)
    assert "attempts" not in str(info.value)  # permanent: not retried
    assert server.requests == []  # the handshake failed before any request was sent
    assert not os.path.exists(tmp_path / "c" / "s.bin")


def test_silent_server_gives_up_within_the_stall_budget_saying_so(server, tmp_path):
    """A mirror that accepts connections and never sends the body fails after stall_budget seconds in all,
    however many retries are allowed, and the message says how long it waited."""
    server.files["/z.bin"] = PAYLOAD
    server.stall_next = 100
    server.stall_seconds = 5.0
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_url(server.url("/z.bin"), str(tmp_path), sha256=sha(PAYLOAD), retries=50, backoff=0.01,
                     timeout=(5, 0.4), progress=False, stall_budget=1.5)
    assert time.monotonic() - start < 3.0
    assert "no data arrived for 1.5 s in all" in str(info.value) and sha(PAYLOAD) in str(info.value)
    assert 2 <= len(server.gets("/z.bin")) <= 6


def test_default_budget_gives_up_within_about_a_minute():
    assert dl.DEFAULT_STALL_BUDGET <= 60 and dl.DEFAULT_TIMEOUT[1] <= dl.DEFAULT_STALL_BUDGET / 2


def test_md5_as_dataset_publishers_list_it(server, tmp_path):
    server.files["/d/archive.tar.gz"] = PAYLOAD
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = download_url(server.url("/d/archive.tar.gz"), str(tmp_path), md5=md5, **FAST)
    assert read(path) == PAYLOAD
    wrong = "0" * 32 if md5 != "0" * 32 else "1" * 32
    with pytest.raises(HashMismatchError, match=f"md5 {wrong}") as info:
        download_url(server.url("/d/archive.tar.gz"), str(tmp_path / "other"), md5=wrong, **FAST)
    assert f"its md5 is {md5}" in str(info.value)
    assert not os.path.exists(tmp_path / "other" / "archive.tar.gz")
    with pytest.raises(ValueError, match="md5 must be 32 hex digits"):
        download_url(server.url("/d/archive.tar.gz"), str(tmp_path), md5="abc")


def test_mirror_by_name_maps_any_host(server, tmp_path, monkeypatch):
    server.files["/mirror/cifar.tar.gz"] = PAYLOAD
    monkeypatch.setenv(dl.MIRROR_ENV, server.url("/mirror"))
    url = "https://data.example.org/~someone/cifar.tar.gz"
    assert dl.resolve_url(url) == url  # weights' rule: only MindCV's hosts are mirrored
    path = download_url(url, str(tmp_path), sha256=sha(PAYLOAD), mirror_by_name=True, **FAST)
    assert read(path) == PAYLOAD and len(server.gets("/mirror/cifar.tar.gz")) == 1
    local = tmp_path / "local"
    local.mkdir()
    (local / "cifar.tar.gz").write_bytes(PAYLOAD)
    monkeypatch.setenv(dl.MIRROR_ENV, str(local))
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")  # a local mirror needs no network
    assert read(download_url(url, str(tmp_path / "b"), mirror_by_name=True, **FAST)) == PAYLOAD
