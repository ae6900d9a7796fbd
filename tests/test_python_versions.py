"""The supported Python versions agree in pyproject.toml, the README and scripts/env.sh, which refuses others in one
line and picks a supported interpreter when python3 is not one."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORTED = ["3.10", "3.11", "3.12"]  # MindSpore 2.10.0's wheels on PyPI


def _text(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def test_pyproject_readme_and_env_sh_name_the_same_versions():
    assert 'requires-python = ">=3.10,<3.13"' in _text("pyproject.toml")
    assert "Python 3.10-3.12" in _text("README.md")
    assert f'SUPPORTED="{" ".join(SUPPORTED)}"' in _text("scripts/env.sh")
    assert "%d.%d" % sys.version_info[:2] in SUPPORTED  # the suite itself runs on one of them


def _fake_python(folder, name: str, version: str) -> str:
    """An executable that answers the version probe of env.sh like Python ``version`` would."""
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\necho {version}\n")
    os.chmod(path, 0o755)
    return path


def test_env_sh_refuses_an_unsupported_python_in_one_line(tmp_path):
    bad = _fake_python(str(tmp_path), "python3.13", "3.13")
    env = dict(os.environ, PYTHON=bad, MIXNET_HOME=str(tmp_path / "home"))
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "env.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and not (tmp_path / "home").exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "3.10, 3.11, 3.12" in lines[0] and bad in lines[0], result.stderr


def test_env_sh_looks_for_a_supported_python_when_python3_is_not_one(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with the tools env.sh uses and no real Python
    bin_dir.mkdir()
    for tool in ("cat", "sha256sum", "cut", "rm", "mkdir", "dirname", "touch"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bin_dir / tool)
    _fake_python(str(bin_dir), "python3", "3.13")  # python3 too new, nothing else: one line naming the versions
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    env.update(PATH=str(bin_dir), MIXNET_HOME=str(tmp_path / "home"))
    bash = shutil.which("bash")
    result = subprocess.run([bash, os.path.join(ROOT, "scripts", "env.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "no Python 3.10, 3.11, 3.12 found" in result.stderr, result.stderr
    # python3.11 on the PATH is taken: the environment is made with it (the fake one fails at `-m venv`)
    _fake_python(str(bin_dir), "python3.11", "3.11")
    result = subprocess.run([bash, os.path.join(ROOT, "scripts", "env.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert "creating" in result.stderr and result.returncode != 0, result.stderr
