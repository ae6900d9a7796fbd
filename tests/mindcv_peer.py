"""Load one package of MindCV 0.3.0 (the peer in $MINDCV_PEER_PATH) under another name, for parity tests."""
import importlib.util
import os
import sys
from types import ModuleType

import pytest


def load_peer_package(package: str, marker: str) -> ModuleType:
    """MindCV's ``mindcv/<package>`` as ``peer_mindcv_<package>``; skips the test when the peer (checked by
    its file ``marker``) is not installed."""
    peer = os.environ.get("MINDCV_PEER_PATH", os.path.expanduser("~/.cache/mixnet-ms/peers/mindcv-0.3.0"))
    folder = os.path.join(peer, "mindcv", package)
    if not os.path.isfile(os.path.join(folder, marker)):
        pytest.skip(f"MindCV 0.3.0 peer not found at {peer} (set MINDCV_PEER_PATH; .ci/run installs it)")
    spec = importlib.util.spec_from_file_location(f"peer_mindcv_{package}", os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
