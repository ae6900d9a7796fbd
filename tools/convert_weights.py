"""Convert timm / geffnet MixNet weights into a MindSpore checkpoint that create_model, validate.py and
train.py load.

    python tools/convert_weights.py tf_mixnet_s-89d3354b.pth --model tf_mixnet_s
    python tools/convert_weights.py model.safetensors --model timm_mixnet_s --output timm_mixnet_s.ckpt
    python validate.py --model tf_mixnet_s --ckpt_path tf_mixnet_s-XXXXXXXX.ckpt --data_dir /path/to/imagenet

timm's ``mixnet_s/m/l`` -> ``--model timm_mixnet_s/m/l``; ``mixnet_xl`` -> ``mixnet_xl``;
``tf_mixnet_s/m/l`` -> ``tf_mixnet_s/m/l``. ``.safetensors`` files need no PyTorch; ``.pth`` files do.
"""
import sys
from typing import List, Optional

import mindcv  # noqa: F401  (CPU start-up tuning before MindSpore loads)
from mindcv.models.convert import convert_timm_checkpoint
from mindcv.models.mixnet import TIMM_VARIANTS
from mindcv.utils.cli import ArgumentParser, run_main


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
    parser.add_argument("source", help="timm/geffnet weights: .pth, .pt, .bin, .tar (need torch) or .safetensors")
    parser.add_argument("--model", required=True, choices=names, metavar="NAME",
                        help=f"variant whose structure the weights have: {', '.join(names)}")
    parser.add_argument("--output", default=None,
                        help="checkpoint to write (default: ./{model}-{first 8 hex of its sha256}.ckpt)")
    parser.add_argument("--use_ema", action="store_true",
                        help="take the EMA weights (state_dict_ema) of a timm training checkpoint")
    return parser


def _convert(argv: Optional[List[str]]) -> int:
    """Convert, print the written path and how to use it."""
    args = build_parser().parse_args(argv)
    path = convert_timm_checkpoint(args.source, args.model, output=args.output, use_ema=args.use_ema)
    print(path)
    print(f"load it with create_model('{args.model}', checkpoint_path='{path}') or "
          f"validate.py --model {args.model} --ckpt_path {path}", file=sys.stderr)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: 0 on success, 2 with a one-line message on bad input."""
    return run_main("convert_weights.py", _convert, argv)


if __name__ == "__main__":
    sys.exit(main())
