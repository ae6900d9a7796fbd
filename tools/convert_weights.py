"""Convert timm / geffnet, PaddleClas or pytorchcv (imgclsmob) MixNet weights into a MindSpore checkpoint that
create_model, validate.py and train.py load.

    python tools/convert_weights.py tf_mixnet_s-89d3354b.pth --model tf_mixnet_s
    python tools/convert_weights.py model.safetensors --model timm_mixnet_s --output timm_mixnet_s.ckpt
    python tools/convert_weights.py MixNet_S_pretrained.pdparams            # PaddleClas: -> timm_mixnet_s
    python tools/convert_weights.py mixnet_l-0571-c686ba17.pth --source imgclsmob   # pytorchcv: -> timm_mixnet_l
    python validate.py --model tf_mixnet_s --ckpt_path tf_mixnet_s-XXXXXXXX.ckpt --data_dir /path/to/imagenet

timm's ``mixnet_s/m/l`` -> ``--model timm_mixnet_s/m/l``; ``mixnet_xl`` -> ``mixnet_xl``;
``tf_mixnet_s/m/l`` -> ``tf_mixnet_s/m/l``. ``.safetensors`` files need no PyTorch; ``.pth`` files do.
PaddleClas ``.pdparams`` (read without Paddle) and pytorchcv ``.pth`` MixNet_S/M/L weights go to
``timm_mixnet_s/m/l`` (same mathematics); ``--model`` may be left out for them (the stem width tells the size).
"""
import sys
from typing import List, Optional

from mindcv.models.convert import convert_timm_checkpoint
from mindcv.models.convert_imgclsmob import convert_imgclsmob_checkpoint, guess_source
from mindcv.models.mixnet import TIMM_VARIANTS
from mindcv.utils.checkpoint import read_checkpoint_meta
from mindcv.utils.cli import ArgumentParser, ConfigError, run_main

WEIGHT_SOURCES = ("timm", "paddleclas", "imgclsmob")


def _variant_names() -> List[str]:
    """The registered variants that take timm / TF weights."""
    return sorted(TIMM_VARIANTS)


def build_parser() -> ArgumentParser:
    """The command line of the converter."""
    names = _variant_names()
    parser = ArgumentParser(
        prog="convert_weights.py",
        description="Convert a timm/geffnet MixNet state dict (.pth/.pt with torch, .safetensors without) into a "
                    "MindSpore checkpoint that records its variant.",
        epilog="timm mixnet_s/m/l -> timm_mixnet_s/m/l, mixnet_xl -> mixnet_xl, tf_mixnet_s/m/l -> tf_mixnet_s/m/l")
    parser.add_argument("source", help="timm/geffnet weights: .pth, .pt, .bin, .tar (need torch) or .safetensors; "
                                       "PaddleClas .pdparams; pytorchcv .pth")
    parser.add_argument("--model", default=None, choices=names, metavar="NAME",
                        help=f"variant whose structure the weights have: {', '.join(names)} (required for timm "
                             "weights; PaddleClas / pytorchcv weights default to the timm_mixnet_s/m/l of their size)")
    parser.add_argument("--source", dest="weights_source", default=None, choices=WEIGHT_SOURCES,
                        help="library the weights come from (default: paddleclas for .pdparams, imgclsmob for "
                             "pytorchcv's file names such as mixnet_s-0717-ab2c4e37.pth, else timm)")
    parser.add_argument("--output", default=None,
                        help="checkpoint to write (default: ./{model}-{first 8 hex of its sha256}.ckpt)")
    parser.add_argument("--use_ema", action="store_true",
                        help="take the EMA weights (state_dict_ema) of a timm training checkpoint")
    return parser


def _convert(argv: Optional[List[str]]) -> int:
    """Convert, print the written path and how to use it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    source = args.weights_source or guess_source(args.source) or "timm"
    if source == "timm" and args.model is None:
        raise ConfigError("--model is required for timm / geffnet weights (e.g. --model timm_mixnet_s); PaddleClas "
                          "and pytorchcv files need --source paddleclas / imgclsmob when their names do not say so")
    if source != "timm" and args.use_ema:
        raise ConfigError(f"--use_ema applies to timm training checkpoints, not to {source} weights")
    if source == "timm":
        path = convert_timm_checkpoint(args.source, args.model, output=args.output, use_ema=args.use_ema)
    else:
        path = convert_imgclsmob_checkpoint(args.source, args.model, output=args.output, source=source)
    model = read_checkpoint_meta(path).get("model_name", args.model)
    print(path)
    print(f"load it with create_model('{model}', checkpoint_path='{path}') or "
          f"validate.py --model {model} --ckpt_path {path}", file=sys.stderr)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: 0 on success, 2 with a one-line message on bad input."""
    return run_main("convert_weights.py", _convert, argv)


if __name__ == "__main__":
    sys.exit(main())
