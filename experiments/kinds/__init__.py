"""The built-in experiment kinds; importing this package registers them.

The import order is the registration order, which is the order analysis writes the kinds'
tables and draws their figures in (pulls first, then topology, OSU and applications).
"""

from experiments.kinds import pulling, topology, osu, apps, smoke  # noqa: F401, I001
