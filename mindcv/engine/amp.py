"""Mixed precision of a network by MindCV's rules, with the cell lists of ``amp_cast_list``.

amp_level O1 casts the cells of the white list to the low precision (their outputs back to float32), O2 casts the
whole network except the cells of the black list (kept in float32, their outputs back to the low precision), O3
casts everything. The lists are MindSpore's (``mindspore.amp.get_white_list`` / ``get_black_list``, their cell
classes) unless ``amp_cast_list`` names others, as MindCV's ``auto_mixed_precision(network, amp_level,
amp_cast_list)`` does. A cell matches by ``isinstance``, so this package's subclasses of ``nn.Conv2d`` and
``nn.BatchNorm2d`` count as those: MindSpore 2.10's own O1 (its graph rewriter) matches exact classes only and
returns a new network, which left MixNet entirely in float32. Parameter names do not change (checkpoints load as
before).
"""
from typing import Optional, Sequence, Tuple, Type

import mindspore as ms
from mindspore import nn, ops

from ..choices import AMP_CAST_LIST_FORM, parse_amp_cast_list
from ..utils.cli import ConfigError
from ..utils.logger import get_logger

logger = get_logger(__name__)

__all__ = ["apply_amp", "cast_list_classes", "default_cast_list"]

CellClasses = Tuple[Type[nn.Cell], ...]


class CastOutput(nn.Cell):
    """Runs ``cell`` and casts its output to ``dtype``; adds no prefix to the parameter names."""

    def __init__(self, cell: nn.Cell, dtype) -> None:
        super().__init__(auto_prefix=False)
        self.cell = cell
        self.dtype = dtype

    def construct(self, *inputs):
        return ops.cast(self.cell(*inputs), self.dtype)


def cast_list_classes(value) -> CellClasses:
    """The mindspore.nn cell classes an amp_cast_list names (ConfigError naming the option otherwise)."""
    try:
        names = parse_amp_cast_list(value)
    except ValueError as err:
        raise ConfigError(f"option 'amp_cast_list': {err}") from None
    classes = []
    for name in names:
        cls = getattr(nn, name, None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Cell)):
            raise ConfigError(f"option 'amp_cast_list': mindspore.nn has no cell class {name!r}; it must be "
                              f"{AMP_CAST_LIST_FORM}")
        classes.append(cls)
    return tuple(classes)


def default_cast_list(amp_level: str) -> CellClasses:
    """MindSpore's white list (O1) or black list (O2), their cell classes."""
    listed = ms.amp.get_white_list() if amp_level == "O1" else ms.amp.get_black_list()
    return tuple(c for c in listed if isinstance(c, type) and issubclass(c, nn.Cell))


def _wrap_matching(cell: nn.Cell, classes: CellClasses, dtype, out_dtype) -> int:
    """Give every sub-cell of ``classes`` the precision ``dtype`` and wrap it to cast its output to ``out_dtype``;
    returns how many were found (a matched cell's own sub-cells are not searched)."""
    found = 0
    for name, child in list(cell.name_cells().items()):
        if isinstance(child, classes):
            cell._cells[name] = CastOutput(child.to_float(dtype), out_dtype)  # as setattr, without re-prefixing
            found += 1
        else:
            found += _wrap_matching(child, classes, dtype, out_dtype)
    if found and isinstance(cell, nn.SequentialCell):
        cell.cell_list = list(cell.cells())
    return found


def apply_amp(network: nn.Cell, amp_level: str, dtype=ms.float16,
              cast_list: Optional[Sequence[type]] = None) -> nn.Cell:
    """Set the precision of ``network``'s cells in place for ``amp_level`` (O0-O3), with ``cast_list`` (cell
    classes) as the white list of O1 / black list of O2 instead of MindSpore's; returns ``network``."""
    if amp_level == "O0":
        return network
    if amp_level == "O3":
        return network.to_float(dtype)
    if amp_level not in ("O1", "O2"):
        raise ConfigError(f"amp_level must be one of O0, O1, O2, O3, got {amp_level!r}")
    classes = tuple(cast_list) if cast_list else default_cast_list(amp_level)
    if amp_level == "O1":
        found = _wrap_matching(network, classes, dtype, ms.float32)
    else:
        network.to_float(dtype)
        found = _wrap_matching(network, classes, ms.float32, dtype)
    if cast_list and not found:
        names = ", ".join(f"nn.{c.__name__}" for c in classes)
        raise ConfigError(f"option 'amp_cast_list': the network has no cell of [{names}], so amp_level {amp_level} "
                          f"would {'cast nothing' if amp_level == 'O1' else 'keep nothing in float32'}: name cells "
                          f"it has (e.g. nn.Conv2d, nn.Dense, nn.BatchNorm2d)")
    return network
