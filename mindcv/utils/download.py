"""Verified, resumable, cache-aware downloads (standard library only; TLS verification always on).

- The file is written to ``<file>.part`` and renamed into place only once complete and verified; an
  interrupted download resumes with an HTTP Range request (a server that ignores Range restarts it).
- Transient failures (connection errors, timeouts, HTTP 5xx/408/429, incomplete reads) are retried with
  exponential backoff; a permanent one (HTTP 404, TLS failure) fails at once; either way the error names
  the URL, the cause, the expected hash and where to put a copy fetched by hand.
- Verification: the full SHA-256 when known (or the MD5 a dataset's publisher lists), otherwise the hash
  prefix in a MindCV-style file name
  ``{model}-{8 hex}[-{hardware}].ckpt``. MindCV's configs/README.md ("Model Checkpoint Format") defines
  those 8 hex digits as the start of ``sha256sum`` of the file, so that is what is checked; MindCV's own
  loader never checks them, so a name that carries an MD5 or SHA-1 prefix instead is accepted with a
  warning saying so, and any other mismatch deletes the file and fails.
- Offline use: ``url`` may be a local path or ``file://`` URL; ``MINDCV_MIRROR`` replaces MindCV's download
  host by a mirror URL or a local directory (with ``mirror_by_name``, any host: the mirror holds the file
  under its own name, as for the public datasets); ``MINDCV_OFFLINE=1`` forbids network access;
  ``MINDCV_HOME`` moves the cache (default ``~/.mindspore``, checkpoints in its ``models`` folder).
- Concurrency: a file lock (``<file>.lock``) lets one process (e.g. one msrun rank) download while the
  others wait and then find the verified file.
"""
import errno
import functools
import http.client
import math
import os
import re
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple, Union

from .cli import InputFileNotFound, UserError
from .io import file_digests
from .logger import get_logger, get_rank_from_env

try:  # POSIX only; without it downloads still work, just without the cross-process lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

logger = get_logger(__name__)

HOME_ENV = "MINDCV_HOME"
MIRROR_ENV = "MINDCV_MIRROR"
OFFLINE_ENV = "MINDCV_OFFLINE"
LOCK_TIMEOUT_ENV = "MINDCV_LOCK_TIMEOUT"
DEFAULT_HOME = os.path.join("~", ".mindspore")
# MindCV publishes its checkpoints under either host (older and newer READMEs).
DEFAULT_HOSTS = (
    "https://download.mindspore.cn/toolkits/mindcv",
    "https://download-mindspore.osinfra.cn/toolkits/mindcv",
)
DEFAULT_LOCK_TIMEOUT = 1800.0
# a download gives up after this many seconds in all without receiving a byte (each attempt waits at most
# DEFAULT_TIMEOUT's read seconds for data), so an unreachable or silent mirror fails within about a minute
DEFAULT_STALL_BUDGET = 60.0
DEFAULT_TIMEOUT = (10.0, 20.0)
CHUNK_SIZE = 1 << 20
USER_AGENT = "mindcv-mixnet-downloader/1.0 (python-urllib)"
# "{name}-{8 hex}[-{hardware}].{ext}": MindCV's checkpoint naming rule.
NAME_HASH_RE = re.compile(r"-([0-9a-f]{8})(?:-[A-Za-z0-9_.]+)?\.[A-Za-z0-9]+$")
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}

Timeout = Union[float, Tuple[float, float]]


class DownloadError(UserError, RuntimeError):
    """A file could not be fetched or verified; the message says what to do instead."""


class HashMismatchError(DownloadError):
    """The fetched file does not have the expected hash (the file was deleted)."""


class _TransientError(Exception):
    """A failure worth retrying (connection, 5xx, incomplete read)."""


class _RangeNotSatisfiable(Exception):
    """HTTP 416 to a resume request: the partial file does not fit the remote file."""


# ---------------------------------------------------------------- locations and URL resolution


def get_cache_home() -> str:
    """Root of the MindCV cache: $MINDCV_HOME, else ~/.mindspore."""
    return os.path.abspath(os.path.expanduser(os.environ.get(HOME_ENV) or DEFAULT_HOME))


def get_checkpoint_dir() -> str:
    """Where pretrained checkpoints are cached: <cache home>/models."""
    return os.path.join(get_cache_home(), "models")


def is_offline() -> bool:
    """True when MINDCV_OFFLINE asks for no network access."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _is_remote(url: str) -> bool:
    """http(s) URL (as opposed to a local path or file:// URL)."""
    return urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")


def _local_path(url: str) -> str:
    """The file system path of a local path or file:// URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "file":
        return urllib.request.url2pathname(parts.path)
    return os.path.expanduser(url)


def resolve_url(url: str, by_name: bool = False) -> str:
    """Apply MINDCV_MIRROR: MindCV's download host is replaced by the mirror URL or local directory.

    For a local directory mirror, the file is looked up at <dir>/<path below the host> and then at
    <dir>/<file name>; the first that exists is used. ``by_name``: a URL of any other host maps to
    <mirror>/<file name> (how the public datasets' files are mirrored).
    """
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return url
    host = next((h for h in DEFAULT_HOSTS if url.startswith(h + "/")), None)
    if host is None and not by_name:
        return url
    rest = url[len(host):] if host else "/" + urllib.parse.quote(filename_from_url(url))
    if _is_remote(mirror) or mirror.lower().startswith("file:"):
        return mirror.rstrip("/") + rest
    base = os.path.expanduser(mirror)
    if not os.path.isdir(base):
        raise DownloadError(f"{MIRROR_ENV}={mirror!r} is neither an http(s):// or file:// URL nor an existing "
                            "directory")
    nested = os.path.join(base, *urllib.parse.unquote(rest).strip("/").split("/"))
    flat = os.path.join(base, os.path.basename(nested))
    return nested if os.path.isfile(nested) or not os.path.isfile(flat) else flat


def filename_from_url(url: str) -> str:
    """Last path component of a URL or path, percent-decoded."""
    path = urllib.parse.urlsplit(url).path if (_is_remote(url) or url.startswith("file:")) else url
    name = os.path.basename(urllib.parse.unquote(path).rstrip("/"))
    if not name:
        raise ValueError(f"cannot derive a file name from {url!r}; pass filename=...")
    return name


# ---------------------------------------------------------------- hashing


def sha256_prefix_from_name(filename: str) -> Optional[str]:
    """The 8-hex hash in a MindCV checkpoint name ('mixnet_s-2a5ef3a3.ckpt' -> '2a5ef3a3'), or None."""
    match = NAME_HASH_RE.search(os.path.basename(filename))
    return match.group(1) if match else None


@dataclass(frozen=True)
class _Expected:
    """The hashes a file must have (lower-case hex; None: not checked)."""

    sha256: Optional[str] = None
    prefix: Optional[str] = None
    md5: Optional[str] = None

    def known(self) -> bool:
        return bool(self.sha256 or self.prefix or self.md5)


def _hex_arg(name: str, value: Optional[str], pattern: str, what: str) -> Optional[str]:
    """`value` stripped and lower-cased, after checking it is hex of the right length (None when empty)."""
    if not value:
        return None
    value = value.strip().lower()
    if not re.fullmatch(pattern, value):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def _check_hash_args(sha256: Optional[str], sha256_prefix: Optional[str], md5: Optional[str] = None) -> _Expected:
    """Normalise and validate the expected hashes (lower-case hex)."""
    return _Expected(_hex_arg("sha256", sha256, r"[0-9a-f]{64}", "64 hex digits"),
                     _hex_arg("sha256_prefix", sha256_prefix, r"[0-9a-f]{1,64}", "hex digits"),
                     _hex_arg("md5", md5, r"[0-9a-f]{32}", "32 hex digits"))


def verify_file(path: str, sha256: Optional[str] = None, sha256_prefix: Optional[str] = None,
                md5: Optional[str] = None) -> Optional[str]:
    """None when `path` has the expected hash, else a sentence describing the mismatch.

    A prefix that matches the file's MD5 or SHA-1 instead of its SHA-256 is accepted with a warning.
    """
    if sha256 or md5:
        algo, expected = ("sha256", sha256) if sha256 else ("md5", md5)
        actual = file_digests(path, (algo,))[algo]
        return None if actual == expected else f"its {algo} is {actual}, expected {expected}"
    if not sha256_prefix:
        return None
    digests = file_digests(path, ("sha256", "md5", "sha1"))
    if digests["sha256"].startswith(sha256_prefix):
        return None
    for algo in ("md5", "sha1"):
        if digests[algo].startswith(sha256_prefix):
            logger.warning("%s: the hash %s in its name is the start of its %s, not of its sha256 as MindCV's "
                           "naming rule says; the content matches it, so the file is accepted",
                           os.path.basename(path), sha256_prefix, algo.upper())
            return None
    return (f"its sha256 is {digests['sha256']}, which does not start with {sha256_prefix} (nor do its MD5 or "
            f"SHA-1); MindCV names checkpoints with the first 8 hex digits of their sha256")


def _expected_text(expected: _Expected) -> str:
    """How the expected hash is described in error messages."""
    if expected.sha256:
        return f"sha256 {expected.sha256}"
    if expected.md5:
        return f"md5 {expected.md5}"
    if expected.prefix:
        return f"sha256 starting with {expected.prefix}"
    return "no published hash"


# ---------------------------------------------------------------- cross-process lock


def lock_timeout_seconds(value: Optional[float]) -> float:
    """Lock wait in seconds: argument, else $MINDCV_LOCK_TIMEOUT, else 30 minutes."""
    if value is not None:
        return float(value)
    env = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    try:
        return float(env) if env else DEFAULT_LOCK_TIMEOUT
    except ValueError:
        raise DownloadError(f"{LOCK_TIMEOUT_ENV} must be a number of seconds, got {env!r}: fix or unset it") from None


@contextmanager
def file_lock(lock_path: str, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path`; wait up to `timeout` seconds for another process to release it."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise DownloadError(
                        f"timed out after {timeout:.0f}s waiting for {lock_path}: another process is still "
                        f"fetching {what}. Wait for it, or raise {LOCK_TIMEOUT_ENV} (seconds)") from exc
                if not waited:
                    logger.info("Waiting for another process to finish fetching %s", what)
                    waited = True
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- HTTP with separate connect/read timeouts


def _split_timeout(timeout: Timeout) -> Tuple[float, float]:
    """(connect, read) seconds from a number or a pair."""
    if isinstance(timeout, (int, float)):
        return float(timeout), float(timeout)
    try:
        connect, read = timeout
        return float(connect), float(read)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"timeout must be seconds or a (connect, read) pair, got {timeout!r}") from exc


class _ReadTimeoutMixin:
    """Connection that uses the constructor timeout to connect and `read_timeout` afterwards."""

    read_timeout = 60.0

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _HTTPConnection(_ReadTimeoutMixin, http.client.HTTPConnection):
    """HTTP connection with a read timeout."""


class _HTTPSConnection(_ReadTimeoutMixin, http.client.HTTPSConnection):
    """HTTPS connection (certificate verification on) with a read timeout."""


def _connection_class(base: type, read_timeout: float) -> type:
    """A subclass of `base` whose sockets get `read_timeout` once connected."""
    return type(base.__name__, (base,), {"read_timeout": read_timeout})


class _HTTPHandler(urllib.request.HTTPHandler):
    """urllib handler opening connections with separate connect/read timeouts."""

    def __init__(self, read_timeout: float):
        super().__init__()
        self._conn = _connection_class(_HTTPConnection, read_timeout)

    def http_open(self, req):
        return self.do_open(self._conn, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """HTTPS counterpart of _HTTPHandler, verifying certificates with the system trust store."""

    def __init__(self, read_timeout: float):
        super().__init__(context=ssl.create_default_context())
        self._conn = _connection_class(_HTTPSConnection, read_timeout)

    def https_open(self, req):
        return self.do_open(self._conn, req, context=self._context)


@functools.lru_cache(maxsize=8)
def _opener(read_timeout: float) -> urllib.request.OpenerDirector:
    """urllib opener with our handlers (no proxy changes, TLS verification on)."""
    return urllib.request.build_opener(_HTTPHandler(read_timeout), _HTTPSHandler(read_timeout))


# ---------------------------------------------------------------- fetching


def _want_progress(progress: Optional[bool]) -> bool:
    """progress=None: a bar only on rank 0 and when stderr is an interactive terminal."""
    if progress is not None:
        return bool(progress)
    return get_rank_from_env() == 0 and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def _progress_bar(enabled: bool, total: Optional[int], initial: int, desc: str):
    """A tqdm bar in bytes with speed (or None when disabled)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                dynamic_ncols=True, leave=True, file=sys.stderr)


def _content_range_start(header: Optional[str]) -> Optional[int]:
    """Start offset of a 'bytes START-END/TOTAL' Content-Range header."""
    match = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)", header or "")
    return int(match.group(1)) if match else None


def _open(url: str, offset: int, timeouts: Tuple[float, float]):
    """Send the GET (with Range when resuming); classify failures as transient or permanent."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return _opener(timeouts[1]).open(request, timeout=timeouts[0])
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            raise _RangeNotSatisfiable() from exc
        if exc.code in _TRANSIENT_HTTP:
            raise _TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise DownloadError(f"TLS certificate verification failed ({exc.reason.verify_message}); "
                                "verification stays on: fix the system CA certificates or use a mirror") from exc
        raise _TransientError(f"connection failed: {exc.reason}") from exc
    except (socket.timeout, ConnectionError, http.client.HTTPException, OSError) as exc:
        raise _TransientError(f"{type(exc).__name__}: {exc}") from exc


def _fetch_once(url: str, part: str, timeouts: Tuple[float, float], progress: bool) -> None:
    """One attempt: continue `part` from its current size (or restart) until the server's length is reached."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        response = _open(url, offset, timeouts)
    except _RangeNotSatisfiable as exc:
        os.remove(part)
        raise _TransientError("the server rejected resuming the partial file (HTTP 416); restarting") from exc
    with response:
        if offset and response.status == 206 and _content_range_start(response.headers.get("Content-Range")) != offset:
            os.remove(part)
            raise _TransientError("the server resumed at the wrong offset; restarting")
        if offset and response.status != 206:
            logger.info("Server ignored the Range request for %s; downloading from the start", url)
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        _stream(response, part, offset, total, progress, filename_from_url(url))


def _stream(response, part: str, offset: int, total: Optional[int], progress: bool, desc: str) -> None:
    """Copy the response body into `part` (appending at `offset`), checking the final size."""
    written = offset
    bar = _progress_bar(progress, total, offset, desc)
    try:
        with open(part, "ab" if offset else "wb") as f:
            while True:
                try:
                    chunk = response.read(CHUNK_SIZE)
                except (socket.timeout, ConnectionError, http.client.HTTPException, OSError) as exc:
                    raise _TransientError(f"read failed after {written} bytes: {type(exc).__name__}: {exc}") from exc
                if not chunk:
                    break
                f.write(chunk)
                written += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    if total is not None and written < total:
        raise _TransientError(f"incomplete read: got {written} of {total} bytes")


def _part_size(part: str) -> int:
    return os.path.getsize(part) if os.path.exists(part) else 0


def _fetch_with_retries(url: str, part: str, retries: int, timeouts: Tuple[float, float], progress: bool,
                        backoff: float, stall_budget: float = DEFAULT_STALL_BUDGET) -> None:
    """Fetch into `part`, retrying transient failures with exponential backoff.

    Gives up once ``stall_budget`` seconds in all (waits, backoff and retries included) passed without a
    byte arriving: every attempt's timeouts are capped by what is left of it, and data resets it.
    """
    attempts = max(0, int(retries)) + 1
    start = time.monotonic()
    deadline = start + stall_budget
    for attempt in range(1, attempts + 1):
        left = max(deadline - time.monotonic(), 0.1)
        capped = (min(timeouts[0], left), float(min(timeouts[1], math.ceil(left))))
        before = _part_size(part)
        try:
            _fetch_once(url, part, capped, progress)
            return
        except _TransientError as exc:
            now = time.monotonic()
            if _part_size(part) > before:  # progress: a fresh budget for the rest
                deadline = now + stall_budget
            delay = backoff * (2 ** (attempt - 1))
            tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
            if attempt == attempts:
                raise DownloadError(f"{exc} (gave up after {tries} in {now - start:.0f} s)") from exc
            if now + delay >= deadline:
                raise DownloadError(f"{exc} (gave up after {tries}: no data arrived for {stall_budget:g} s in "
                                    f"all)") from exc
            logger.warning("Download of %s failed (%s); retry %d/%d in %.1fs (giving up after %g s without data)",
                           url, exc, attempt, attempts - 1, delay, stall_budget)
            time.sleep(delay)


def _copy_local(source: str, part: str) -> None:
    """'Download' from a local file: copy it into `part`."""
    if not os.path.isfile(source):
        raise InputFileNotFound(f"local file not found: {source}")
    shutil.copyfile(source, part)


def _fetch_verified(url: str, dest: str, expected: _Expected, retries: int,
                    timeouts: Tuple[float, float], progress: bool, backoff: float,
                    stall_budget: float = DEFAULT_STALL_BUDGET) -> None:
    """Fetch `url` into dest.part, verify it, rename it to dest. Restarts once from zero if a resumed file fails."""
    part = dest + ".part"
    for fresh_retry in (False, True):
        resumed = os.path.exists(part) and os.path.getsize(part) > 0
        if _is_remote(url):
            _fetch_with_retries(url, part, retries, timeouts, progress, backoff, stall_budget)
        else:
            _copy_local(_local_path(url), part)
        problem = verify_file(part, expected.sha256, expected.prefix, expected.md5)
        if problem is None:
            os.replace(part, dest)
            return
        os.remove(part)
        if not (resumed and not fresh_retry and _is_remote(url)):
            raise HashMismatchError(f"{os.path.basename(dest)} fetched from {url} is corrupt or not the expected "
                                    f"file: {problem}. The downloaded copy was deleted")
        logger.warning("The resumed download of %s failed verification (%s); downloading it again from the start",
                       url, problem)


def _manual_fix(url: str, dest: str, expected: str) -> str:
    """The sentence telling a user how to fetch the file by hand."""
    return (f"To fetch it by hand, download {url} (expected {expected}) and save it as {dest}, or set "
            f"{MIRROR_ENV} to a mirror URL or a local directory holding it")


def _cached(dest: str, expected: _Expected) -> bool:
    """True when `dest` exists and verifies; a corrupt copy is deleted (to be fetched again)."""
    if not os.path.isfile(dest):
        return False
    problem = verify_file(dest, expected.sha256, expected.prefix, expected.md5)
    if problem is None:
        logger.debug("Using cached %s", dest)
        return True
    logger.warning("Cached %s is corrupt (%s); fetching it again", dest, problem)
    os.remove(dest)
    return False


def _fetch_reported(url: str, original_url: str, dest: str, expected: _Expected, retries: int,
                    timeouts: Tuple[float, float], progress: bool, backoff: float,
                    stall_budget: float = DEFAULT_STALL_BUDGET) -> None:
    """_fetch_verified with errors that name the URL, the expected hash and the manual fix."""
    fix = _manual_fix(original_url, dest, _expected_text(expected))
    if _is_remote(url) and is_offline():
        raise DownloadError(f"{OFFLINE_ENV} is set and {dest} is not in the cache. {fix}")
    logger.info("Downloading %s to %s", url, dest)
    try:
        _fetch_verified(url, dest, expected, retries, timeouts, progress, backoff, stall_budget)
    except FileNotFoundError as exc:
        if url == original_url:
            raise
        raise InputFileNotFound(f"{exc} ({MIRROR_ENV}={os.environ.get(MIRROR_ENV)} maps {original_url} "
                                "there; put the file there or unset it)") from exc
    except HashMismatchError as exc:
        raise HashMismatchError(f"{exc}. {fix}") from exc
    except DownloadError as exc:
        raise DownloadError(f"could not download {url}: {exc}. {fix}") from exc
    verified = f"verified, {_expected_text(expected)}" if expected.known() else "no known hash to verify"
    logger.info("Saved %s (%s)", dest, verified)


def _make_folder(root: str) -> None:
    """Create the download folder, or raise a DownloadError naming it (and MINDCV_HOME when it comes from there)."""
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as err:
        home = os.environ.get(HOME_ENV)
        hint = (f": {HOME_ENV}={home!r} must name a folder you can write (or unset it: {DEFAULT_HOME})"
                if home and root.startswith(get_cache_home()) else ": choose another folder")
        raise DownloadError(f"cannot create the download folder {root} ({err.strerror or err}){hint}") from None


def download_url(url: str, root: Optional[str] = None, filename: Optional[str] = None, sha256: Optional[str] = None,
                 sha256_prefix: Optional[str] = None, retries: int = 3, timeout: Timeout = DEFAULT_TIMEOUT,
                 progress: Optional[bool] = None, backoff: float = 1.0, lock_timeout: Optional[float] = None,
                 stall_budget: float = DEFAULT_STALL_BUDGET, md5: Optional[str] = None,
                 mirror_by_name: bool = False) -> str:
    """Fetch `url` into `root` (default: the checkpoint cache) and return the verified local path.

    `url` may be http(s)://, file:// or a local path. The expected hash is `sha256` (or `md5`, as dataset
    publishers list them), else `sha256_prefix`, else the 8-hex prefix in a MindCV-style file name (pass
    sha256_prefix="" to skip that name check). `mirror_by_name`: see resolve_url's `by_name`.
    A cached file is reused without any request when it verifies, and fetched again once when it does not.
    Transient failures are retried up to `retries` times until `stall_budget` seconds in all pass without data.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"url must be a non-empty string, got {url!r}")
    original_url = url.strip()
    scheme = urllib.parse.urlsplit(original_url).scheme.lower()
    if len(scheme) > 1 and scheme not in ("http", "https", "file"):  # 1 letter: a Windows drive
        raise ValueError(f"unsupported URL scheme {scheme!r} in {original_url!r}: use http(s)://, file:// or a path")
    url = resolve_url(original_url, by_name=mirror_by_name)
    root = os.path.abspath(os.path.expanduser(root)) if root else get_checkpoint_dir()
    filename = filename or filename_from_url(url)
    dest = os.path.join(root, filename)
    name_prefix = sha256_prefix_from_name(filename) if sha256_prefix is None else sha256_prefix
    expected = _check_hash_args(sha256, name_prefix, md5)
    timeouts = _split_timeout(timeout)
    _make_folder(root)
    with file_lock(dest + ".lock", lock_timeout_seconds(lock_timeout), dest):
        if not _cached(dest, expected):
            _fetch_reported(url, original_url, dest, expected, retries, timeouts, _want_progress(progress),
                            backoff, stall_budget)
    return dest
