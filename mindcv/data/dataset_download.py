"""Downloading a public dataset once: its published files, verified against the publisher's checksums, extracted.

Files are fetched by ``mindcv.utils.download.download_url``: resumable (``.part`` files continue with HTTP
Range), verified against the MD5 the publisher lists, ``MINDCV_MIRROR`` (a directory or URL holding the files
under their published names) and ``MINDCV_OFFLINE`` as for pretrained weights. Extraction is atomic: an archive
is unpacked into a temporary folder inside the root and the one entry it must give (a folder or a file) is
renamed into place, so a reader sees the whole entry or none; the archive is deleted afterwards. Everything
runs under one lock per dataset and root, so the ranks of a distributed run share one download: the first to
take the lock downloads and extracts, the others wait and then find the files.
"""
import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from typing import List, Optional, Sequence

from ..utils.download import download_url, file_lock, lock_timeout_seconds
from ..utils.logger import get_logger
from .errors import DatasetError

__all__ = ["Resource", "download_dataset", "missing_entries"]

_logger = get_logger(__name__)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One published file: where it is, its MD5 as published, and the entry of the root it gives."""

    url: str
    md5: str
    entry: str  # the file or folder it gives in the root (after extraction)

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def kind(self) -> str:
        """'tar' (tar.gz / tgz), 'gz' (one compressed file) or 'file' (used as it is)."""
        name = self.filename.lower()
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            return "tar"
        return "gz" if name.endswith(".gz") else "file"


def missing_entries(resources: Sequence[Resource], root: str) -> List[str]:
    """The entries of the resources that ``root`` does not hold yet."""
    return [r.entry for r in resources if not os.path.exists(os.path.join(root, r.entry))]


def _safe_members(tar: tarfile.TarFile, archive: str) -> List[tarfile.TarInfo]:
    """The archive's members, after checking each is a plain file or folder inside the extraction folder."""
    members = tar.getmembers()
    for member in members:
        parts = member.name.replace("\\", "/").split("/")
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
            raise DatasetError(f"{archive}: member {member.name!r} is not a plain file or folder inside the archive; "
                               f"refusing to extract it (delete the archive and download it again)")
    return members


def _unpack(archive: str, resource: Resource, folder: str) -> None:
    """Unpack ``archive`` into ``folder`` (a .gz file becomes resource.entry)."""
    if resource.kind == "gz":
        with gzip.open(archive, "rb") as src, open(os.path.join(folder, resource.entry), "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        return
    with tarfile.open(archive) as tar:
        members = _safe_members(tar, archive)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (and security backports)
            tar.extractall(folder, members=members, filter="data")
        else:
            tar.extractall(folder, members=members)


def _extract(archive: str, resource: Resource, root: str) -> None:
    """Unpack ``archive`` in a temporary folder of ``root``, then rename its entry into place."""
    tmp = tempfile.mkdtemp(prefix=f".{resource.filename}.extract-", dir=root)
    try:
        try:
            _unpack(archive, resource, tmp)
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise DatasetError(f"cannot extract {archive}: it is corrupt ({err}); delete it and download it "
                               f"again") from err
        except OSError as err:
            raise DatasetError(f"cannot extract {archive} into {root}: {err.strerror or err}") from err
        source = os.path.join(tmp, resource.entry)
        if not os.path.exists(source):
            found = sorted(os.listdir(tmp))[:5]
            raise DatasetError(f"{archive} does not hold {resource.entry} (it holds {found}): not the published "
                               f"file {resource.url}")
        os.rename(source, os.path.join(root, resource.entry))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download_dataset(name: str, resources: Sequence[Resource], root: str, lock_timeout: Optional[float] = None,
                     progress: Optional[bool] = None) -> None:
    """Make ``root`` hold every resource's entry, fetching and extracting only the missing ones (once)."""
    root = os.path.abspath(os.path.expanduser(root))
    if not missing_entries(resources, root):
        return
    os.makedirs(root, exist_ok=True)
    with file_lock(os.path.join(root, f".{name}.download.lock"), lock_timeout_seconds(lock_timeout),
                   f"dataset {name} into {root}"):
        for resource in resources:
            if not missing_entries([resource], root):
                continue  # another process finished it while we waited
            path = os.path.join(root, resource.filename)
            try:
                download_url(resource.url, root=root, filename=resource.filename, md5=resource.md5,
                             sha256_prefix="", mirror_by_name=True, progress=progress)
            finally:
                _remove_quietly(path + ".lock")  # download_url's own lock: only this process used it
            if resource.kind != "file":
                _logger.info("extracting %s into %s", path, root)
                _extract(path, resource, root)
                os.remove(path)
    _logger.info("dataset %s is in %s", name, root)


def _remove_quietly(path: str) -> None:
    """Delete a leftover lock file (gone already is fine)."""
    try:
        os.remove(path)
    except OSError:
        pass
