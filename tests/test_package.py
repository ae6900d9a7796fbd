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
    code = ("import os, mindcv, mindcv.models, mindcv.engine, mindcv.eval; "
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
    assert lines[0].startswith(str(target)) and lines[1] == "1000" and lines[2] == "True"
    assert lines[-1] == "(3, 1536)"  # (after the log line naming the MixConv implementation)


def test_import_changes_no_environment_variable():
    """Beyond what importing MindSpore itself sets (it sets a few of its own)."""
    code = ("import os, mindspore; before = dict(os.environ); import mindcv, mindcv.models, mindcv.engine, mindcv.eval; "
            "print(sorted(k for k in os.environ if os.environ.get(k) != before.get(k)))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, GLOG_v="3"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
