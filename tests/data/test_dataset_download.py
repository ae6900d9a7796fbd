"""dataset_download: the published files fetched once from a local HTTP server (127.0.0.1), verified against their
MD5, resumed, refused offline or on a checksum mismatch, extracted atomically, shared by concurrent ranks."""
import gzip
import hashlib
import io
import os
import tarfile
import threading

import pytest

from mindcv.data import create_index
from mindcv.data.dataset_download import Resource, download_dataset
from mindcv.data.errors import DatasetError
from mindcv.data.mnist import MNIST
from mindcv.data.pets import PETS
from mindcv.utils import download as dl
from mindcv.utils.cli import UserError
from mindcv.utils.download import DownloadError, HashMismatchError
from tests.data.published_files import write_mnist, write_pets
from tests.utils.test_download import clean_env, server  # noqa: F401 - pytest fixtures: the local server


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tar_gz(folder: str, entries) -> bytes:
    """A .tar.gz of folder's entries (as the publishers pack them: the entry is the top-level member)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in entries:
            tar.add(os.path.join(folder, entry), arcname=entry)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pets_archives(tmp_path_factory):
    """The two Oxford-IIIT Pet archives, made from a generated layout."""
    folder = str(tmp_path_factory.mktemp("pets_src"))
    write_pets(folder)
    return {"images.tar.gz": tar_gz(folder, ["images"]), "annotations.tar.gz": tar_gz(folder, ["annotations"])}


def serve(server, monkeypatch, spec, files):
    """Serve `files` ({name: bytes}) and point the dataset's resources at them (with their MD5s)."""
    resources = []
    for resource in spec.resources:
        data = files[resource.filename]
        server.files[f"/{spec.name}/{resource.filename}"] = data
        resources.append(Resource(server.url(f"/{spec.name}/{resource.filename}"), md5(data), resource.entry))
    monkeypatch.setattr(spec, "resources", tuple(resources))
    return resources



def test_pets_downloaded_once_extracted_in_place_and_read(server, monkeypatch, tmp_path, pets_archives):
    serve(server, monkeypatch, PETS, pets_archives)
    root = str(tmp_path / "pets")
    index = create_index("pets", root, "train", download=True)
    assert len(index) == 74 and index.class_names[0] == "Cat1"
    assert sorted(os.listdir(root)) == [".pets.download.lock", "annotations", "images"]  # archives and temps gone
    assert len(os.listdir(os.path.join(root, "images"))) == 111
    requests = len(server.requests)
    assert requests == 2
    create_index("pets", root, "test", download=True)
    assert len(server.requests) == requests  # found in place: nothing fetched again


def test_mnist_gz_files_are_verified_and_decompressed(server, monkeypatch, tmp_path):
    source = tmp_path / "src"
    written = write_mnist(str(source), {"train": 5, "t10k": 3})
    files = {name + ".gz": gzip.compress((source / name).read_bytes()) for name in os.listdir(source)}
    serve(server, monkeypatch, MNIST, files)
    root = tmp_path / "mnist"
    index = create_index("mnist", str(root), "val", download=True)
    assert [label for _, label in index.samples] == written["t10k"][1].tolist()
    assert sorted(p for p in os.listdir(root) if not p.startswith(".")) == sorted(os.listdir(source))


def test_checksum_mismatch_is_refused_and_leaves_nothing(server, monkeypatch, tmp_path, pets_archives):
    resources = serve(server, monkeypatch, PETS, pets_archives)
    wrong = Resource(resources[0].url, "0" * 32, resources[0].entry)
    monkeypatch.setattr(PETS, "resources", (wrong, resources[1]))
    root = tmp_path / "pets"
    with pytest.raises(HashMismatchError, match=f"expected {'0' * 32}") as err:
        create_index("pets", str(root), "train", download=True)
    assert f"its md5 is {md5(pets_archives['images.tar.gz'])}" in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, UserError)
    assert [p for p in os.listdir(root) if not p.endswith(".lock")] == []


def test_a_partial_download_resumes_with_a_range_request(server, monkeypatch, tmp_path, pets_archives):
    serve(server, monkeypatch, PETS, pets_archives)
    root = tmp_path / "pets"
    root.mkdir()
    half = len(pets_archives["images.tar.gz"]) // 2
    (root / "images.tar.gz.part").write_bytes(pets_archives["images.tar.gz"][:half])
    create_index("pets", str(root), "train", download=True)
    assert server.gets("/pets/images.tar.gz") == [("/pets/images.tar.gz", f"bytes={half}-")]
    assert len(os.listdir(root / "images")) == 111


def test_offline_mode_refuses_in_one_line(server, monkeypatch, tmp_path, pets_archives):
    serve(server, monkeypatch, PETS, pets_archives)
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    with pytest.raises(DownloadError, match=dl.OFFLINE_ENV) as err:
        create_index("pets", str(tmp_path / "pets"), "train", download=True)
    assert "\n" not in str(err.value) and "images.tar.gz" in str(err.value) and server.requests == []
    assert os.listdir(tmp_path / "pets") == [".pets.download.lock"]  # no download lock or part file left
    mirror = tmp_path / "mirror"  # a local mirror holding the files under their published names needs no network
    mirror.mkdir()
    for name, data in pets_archives.items():
        (mirror / name).write_bytes(data)
    monkeypatch.setenv(dl.MIRROR_ENV, str(mirror))
    assert len(create_index("pets", str(tmp_path / "pets"), "train", download=True)) == 74 and server.requests == []


def test_concurrent_ranks_share_one_download(server, monkeypatch, tmp_path, pets_archives):
    serve(server, monkeypatch, PETS, pets_archives)
    server.chunk_delay = 0.02  # slow enough that the second rank arrives while the first downloads
    root = str(tmp_path / "pets")
    errors = []

    def rank():
        try:
            download_dataset("pets", PETS.resources, root, progress=False)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=rank) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(server.gets("/pets/images.tar.gz")) == 1 and len(server.gets("/pets/annotations.tar.gz")) == 1
    assert len(create_index("pets", root, "test")) == 37


def test_a_corrupt_or_unsafe_archive_is_refused_without_a_partial_entry(server, tmp_path):
    corrupt = b"\x1f\x8b" + os.urandom(500)  # a gzip header, then noise: its MD5 matches, its content is no tar
    server.files["/x/images.tar.gz"] = corrupt
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match=r"cannot extract .*images.tar.gz: it is corrupt"):
        download_dataset("x", [Resource(server.url("/x/images.tar.gz"), md5(corrupt), "images")], str(root))
    assert not (root / "images").exists() and not [p for p in os.listdir(root) if "extract" in p]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    server.files["/x/evil.tar.gz"] = buffer.getvalue()
    with pytest.raises(DatasetError, match=r"member '../escape.txt' is not a plain file or folder inside"):
        download_dataset("x", [Resource(server.url("/x/evil.tar.gz"), md5(buffer.getvalue()), "evil")], str(root))
    assert not (tmp_path / "escape.txt").exists()


def test_folder_datasets_still_cannot_be_downloaded(tmp_path):
    with pytest.raises(DatasetError, match=r"cannot be downloaded \(only \['mnist', 'cifar10'"):
        create_index("imagenet", str(tmp_path), "train", download=True)


def test_cifar_files_in_data_dir_itself_are_not_downloaded_again(server, monkeypatch, tmp_path):
    from mindcv.data.cifar import CIFAR10
    from tests.data.published_files import write_cifar10

    server.files["/c.tar.gz"] = b"never fetched"
    monkeypatch.setattr(CIFAR10, "resources", (Resource(server.url("/c.tar.gz"), md5(b"x"), "cifar-10-batches-bin"),))
    write_cifar10(str(tmp_path))
    inner = str(tmp_path / "cifar-10-batches-bin")  # data_dir pointing at the archive's folder
    assert len(create_index("cifar10", inner, "test", download=True)) == 10000 and server.requests == []
