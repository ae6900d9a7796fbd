"""Every command in the README parses against today's code: scripts, recipes and tool files exist and every option
is known (the e2e tests run what the commands do). A renamed option or file fails here, not in a user's shell."""
import os
import re
import shlex

import pytest

import config
import export
import infer
import validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT_TOOLS = {"train.py": None, "validate.py": validate.VALIDATE_TOOL, "infer.py": infer.INFER_TOOL,
                "export.py": export.EXPORT_TOOL}
RUN_OUTPUT = re.compile(r"^(ckpt[\w]*|run)/")  # files a run writes: their recipe is the demo's


def _commands(path: str):
    """(line number, command) of every command in the file's bash blocks, continuation lines joined."""
    text = open(path, encoding="utf-8").read()
    found = []
    for block in re.finditer(r"```bash\n(.*?)```", text, re.S):
        start = text[: block.start()].count("\n") + 2
        pending, first = "", None
        for offset, line in enumerate(block.group(1).splitlines()):
            line = line.split("  #")[0].rstrip() if not line.lstrip().startswith("#") else ""
            if not line and not pending:
                continue
            first = first if pending else start + offset
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            found.append((first, pending + line))
            pending = ""
    return found


COMMANDS = _commands(os.path.join(ROOT, "README.md"))


def _check_python(tokens, where):
    script = tokens[0]
    if script == "-m":
        module = tokens[1].replace(".", os.sep)
        assert os.path.isfile(os.path.join(ROOT, module + ".py")), f"{where}: no module {tokens[1]}"
        return
    assert os.path.isfile(os.path.join(ROOT, script)), f"{where}: no file {script}"
    args = tokens[1:]
    if script in SCRIPT_TOOLS:
        args = ["configs/mixnet/mixnet_s_demo.yaml" if RUN_OUTPUT.match(a) and a.endswith(".yaml") else a
                for a in args]
        config.parse_args(args, SCRIPT_TOOLS[script])  # raises ConfigError on an unknown option or bad value
    elif script == "tools/convert_weights.py":
        import importlib.util

        spec = importlib.util.spec_from_file_location("convert_weights", os.path.join(ROOT, script))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.build_parser().parse_args(args)
    elif script == "tools/avg_checkpoints.py":
        import importlib.util

        spec = importlib.util.spec_from_file_location("avg_checkpoints", os.path.join(ROOT, script))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.create_parser().parse_args(args)


def test_the_readme_has_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("line, command", COMMANDS, ids=[f"README:{n}" for n, _ in COMMANDS])
def test_readme_command_parses(line, command):
    tokens = shlex.split(command)
    where = f"README.md:{line}"
    if tokens[0] == "msrun":
        assert "python" in tokens, f"{where}: msrun without a python command"
        tokens = tokens[tokens.index("python"):]
    if tokens[0] == "bash":
        assert os.path.isfile(os.path.join(ROOT, tokens[1])), f"{where}: no script {tokens[1]}"
    elif tokens[0] == "python":
        _check_python(tokens[1:], where)
    else:
        assert tokens[0] in ("source", "pip", "cd", "unzip", "export"), f"{where}: unknown command {tokens[0]}"
