"""Moved to ``linecall.bot.simulator.planet_group_media`` (the product's simulator); this alias keeps ``tests.sim.planet_group_media`` working.

The module object itself is aliased (not copied), so every name, private ones included, and any
monkeypatching are shared with the product module.
"""

import sys

from linecall.bot.simulator import planet_group_media as _module

sys.modules[__name__] = _module
