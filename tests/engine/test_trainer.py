"""Trainer helpers."""
from mindcv.engine.trainer import sink_size_for


def test_sink_size_divides_the_epoch_and_keeps_the_log_live():
    assert sink_size_for(1251, 100) == 9  # 1251 = 9 x 139: ImageNet at 1024 images per step
    assert sink_size_for(22, 10) == 2
    assert sink_size_for(5, 100) == 5
    assert sink_size_for(7, 5) == 1
