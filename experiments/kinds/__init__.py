"""The built-in experiment kinds; importing this package registers them."""

from experiments.kinds import apps, osu, pulling, smoke, topology  # noqa: F401
