"""Run by tests in a subprocess with MindCV 0.3.0 on PYTHONPATH (never imported by our package).

Builds MindCV's model, randomises its BN statistics, saves a checkpoint, an input and the eval
logits, so a test can load the checkpoint into our model and compare.
Usage: python mindcv_dump.py MODEL OUT_DIR [IMAGE_SIZE] [NUM_CLASSES]
"""
import os
import sys

import numpy as np

os.environ.setdefault("GLOG_v", "3")


def main() -> None:
    model_name, out_dir = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    num_classes = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    import mindspore as ms
    import mindcv
    from mindcv.models import create_model

    assert "site-packages" in mindcv.__file__ or "peers" in mindcv.__file__, mindcv.__file__
    ms.set_seed(7)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = create_model(model_name, num_classes=num_classes)
    rng = np.random.default_rng(0)
    for p in net.get_parameters():
        if p.name.endswith("moving_mean"):
            p.set_data(ms.Tensor(rng.normal(0, 0.1, p.shape).astype(np.float32)))
        elif p.name.endswith("moving_variance"):
            p.set_data(ms.Tensor(rng.uniform(0.5, 1.5, p.shape).astype(np.float32)))
        elif p.name.endswith(("gamma", "beta")):
            p.set_data(ms.Tensor((p.asnumpy() + rng.normal(0, 0.1, p.shape)).astype(np.float32)))
    net.set_train(False)
    x = rng.normal(0, 1, (2, 3, size, size)).astype(np.float32)
    logits = net(ms.Tensor(x)).asnumpy()
    ms.save_checkpoint(net, os.path.join(out_dir, "peer.ckpt"))
    np.save(os.path.join(out_dir, "input.npy"), x)
    np.save(os.path.join(out_dir, "logits.npy"), logits)
    print("peer:", mindcv.__file__)


if __name__ == "__main__":
    main()
