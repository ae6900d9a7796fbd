"""`pip install .` gives an importable, complete `mindcv` in any directory; importing it has no side effects."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pip_install_imports_from_outside_the_clone(tmp_path):
    target, elsewhere, source = tmp_path / "site", tmp_path / "elsewhere", tmp_path / "source"
    elsewhere.mkdir()
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "__pycache__", "build", "*.egg-info", "ckpt*"))
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    code = ("import os, importlib.metadata as md, mindcv, mindcv.models, mindcv.engine, mindcv.eval; "
            "dist = md.distribution('mixnet-mindcv'); "  # the copy just installed (PYTHONPATH comes first)
            "print(dist.version, mindcv.__version__, str(dist.locate_file('mindcv')) == os.path.dirname(mindcv.__file__)); "
            "from mindcv.data.imagenet_classes import imagenet_wnids; "
            "from mindcv.models import create_model; "
            "print(mindcv.__file__); print(len(imagenet_wnids())); "
            "print(os.path.isdir(os.path.join(os.path.dirname(mindcv.__file__), 'models', 'layers', 'csrc'))); "
            "print(create_model('mixnet_s', num_classes=3).classifier.weight.shape)")
    env = dict(os.environ, PYTHONPATH=str(target), GLOG_v="3")
    run = subprocess.run([sys.executable, "-c", code], cwd=str(elsewhere), env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().split("\n")
    installed, package, same_place = lines[0].split()
    assert installed == package == _declared_version() and same_place == "True"  # metadata = mindcv.__version__
    lines = lines[1:]
    assert lines[0].startswith(str(target)) and lines[1] == "1000" and lines[2] == "True"
    assert lines[-1] == "(3, 1536)"  # (after the log line naming the MixConv implementation)


def _declared_version() -> str:
    """mindcv.__version__ as written in the source (without importing the package)."""
    import re

    text = open(os.path.join(ROOT, "mindcv", "__init__.py"), encoding="utf-8").read()
    return re.search(r'^__version__ = "([^"]+)"$', text, re.M).group(1)


def test_the_version_has_one_source():
    """pyproject.toml takes the distribution's version from mindcv.__version__ (no second copy to drift)."""
    import re

    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()  # read as text: tomllib is Python 3.11+, and the suite runs on 3.10 too
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, re.M)
    assert re.search(r'^dynamic\s*=\s*\[[^]]*"version"', project, re.M)
    dynamic = text.split("[tool.setuptools.dynamic]", 1)[1]
    assert re.search(r'^version\s*=\s*\{\s*attr\s*=\s*"mindcv.__version__"\s*\}', dynamic, re.M)
    import mindcv

    assert mindcv.__version__ == _declared_version()


def test_import_changes_no_environment_variable():
    """Beyond what importing MindSpore itself sets (it sets a few of its own)."""
    code = ("import os, mindspore; before = dict(os.environ); import mindcv, mindcv.models, mindcv.engine, mindcv.eval; "
            "print(sorted(k for k in os.environ if os.environ.get(k) != before.get(k)))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, GLOG_v="3"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
