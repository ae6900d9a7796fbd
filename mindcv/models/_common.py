"""What the MixNet and MobileNet families share: channel rounding, argument checks, parameter re-initialisation and
the classifier scaffolding (stem_conv -> layers -> head_conv, then pool -> dropout -> classifier, as MindCV)."""
import math
from typing import Any, Optional

import mindspore.common.initializer as init
from mindspore import Tensor, nn

__all__ = ["make_divisible", "check_positive_int", "set_param", "ClassifierNet", "ResidualBlock"]


def make_divisible(channels: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Channels scaled by a width multiplier, rounded to a multiple of ``divisor`` and never below 90 %."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def check_positive_int(name: str, value: Any) -> None:
    """``value`` is an int >= 1; else a ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def set_param(param, initializer) -> None:
    """Re-initialise ``param`` in place."""
    param.set_data(init.initializer(initializer, param.shape, param.dtype))


class ResidualBlock(nn.Cell):
    """A block whose subclass defines ``convs``, ``residual`` and ``drop_path`` (None or a DropPath): the convs'
    output, plus the input when ``residual`` (dropped per sample by ``drop_path`` in training)."""

    def construct(self, x: Tensor) -> Tensor:
        out = self.convs(x)
        if self.residual:
            if self.drop_path is not None:
                out = self.drop_path(out)
            out = x + out
        return out


class ClassifierNet(nn.Cell):
    """A classifier whose subclass defines ``stem_conv``, ``layers``, ``head_conv``, ``pool``, ``dropout``,
    ``classifier`` and ``num_features``; gives timm's ``forward_features`` / ``forward_head`` /
    ``get_classifier`` / ``reset_classifier``."""

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.stem_conv(x)
        x = self.layers(x)
        return self.head_conv(x)

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.pool(x)
        x = self.dropout(x)
        return self.classifier(x)

    def construct(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Dense:
        """The classification head."""
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """A new, freshly initialised head with ``num_classes`` outputs (for fine-tuning on other classes)."""
        check_positive_int("num_classes", num_classes)
        self.classifier = nn.Dense(self.num_features, num_classes)
        set_param(self.classifier.weight, init.Uniform(1.0 / math.sqrt(self.num_features)))
        set_param(self.classifier.bias, "zeros")
        self.num_classes = num_classes
