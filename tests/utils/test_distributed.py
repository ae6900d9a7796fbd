"""The msrun hint of a run started with distribute: True but without msrun."""
import logging
import os

from mindcv.utils import distributed
from mindcv.utils.distributed import DistInfo, init_distributed, local_device_count, msrun_hint


def test_hint_fits_this_machine_and_keeps_the_logs_with_the_run(monkeypatch, caplog):
    for name in ("MS_ROLE", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.WARNING, logger=distributed.logger.name):
        dist = init_distributed(True, ["train.py", "-c", "r.yaml"], "CPU", os.path.join("out", "msrun_logs"))
    assert dist == DistInfo()  # one device
    cores = os.cpu_count()
    expected = f"msrun --worker_num {cores} --local_worker_num {cores} --log_dir out/msrun_logs --join True " \
               f"python train.py -c r.yaml"
    assert expected in caplog.text


def test_device_count_by_kind(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert local_device_count("CPU") == 6
    assert 1 <= local_device_count("Ascend")  # MindSpore's count, or 8 when it cannot tell
    assert msrun_hint(["train.py"], 2) == "msrun --worker_num 2 --local_worker_num 2 python train.py"
