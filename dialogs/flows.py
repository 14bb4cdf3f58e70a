"""Importing this module registers every flow's nodes and commands with the engine."""

from dialogs import declare  # noqa: F401, I001
from dialogs import family, home, link  # noqa: F401
from dialogs import staff  # noqa: F401
from dialogs import privacy  # noqa: F401
from dialogs import owner  # noqa: F401
