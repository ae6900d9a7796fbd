"""Load one package of MindCV 0.3.0 (the peer in $MINDCV_PEER_PATH) under another name, for parity tests."""
import importlib
import importlib.util
import os
import sys
from types import ModuleType

import pytest


def _peer_folder(package: str, marker: str) -> str:
    """The peer's ``mindcv/<package>`` folder; skips the test when the peer (its file ``marker``) is not installed."""
    peer = os.environ.get("MINDCV_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/mindcv-0.3.0"))
    folder = os.path.join(peer, "mindcv", package)
    if not os.path.isfile(os.path.join(folder, marker)):
        pytest.skip(f"MindCV 0.3.0 peer not found at {peer} (set MINDCV_PEER_PATH; .ci/run installs it)")
    return folder


def load_peer_module(package: str, module: str) -> ModuleType:
    """MindCV's ``mindcv/<package>/<module>.py`` alone (its package's __init__ not run, so the rest of MindCV need
    not import), as ``peer_mindcv_<package>_only.<module>``; its relative imports within the package work."""
    folder = _peer_folder(package, f"{module}.py")
    name = f"peer_mindcv_{package}_only"
    if name not in sys.modules:
        holder = ModuleType(name)
        holder.__path__ = [folder]
        sys.modules[name] = holder
    return importlib.import_module(f"{name}.{module}")


def load_peer_package(package: str, marker: str) -> ModuleType:
    """MindCV's ``mindcv/<package>`` as ``peer_mindcv_<package>``; skips the test when the peer (checked by
    its file ``marker``) is not installed."""
    folder = _peer_folder(package, marker)
    spec = importlib.util.spec_from_file_location(f"peer_mindcv_{package}", os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
