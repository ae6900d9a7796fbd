"""The user error of the data block: a dataset cannot be built from the given root, split or options."""
from ..utils.cli import UserError

__all__ = ["DatasetError"]


class DatasetError(UserError, ValueError):
    """A dataset cannot be built from the given root/split/options; the message names the path."""
