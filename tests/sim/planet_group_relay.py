"""Moved to ``linecall.bot.simulator.planet_group_relay`` (the product's simulator); this alias keeps ``tests.sim.planet_group_relay`` working.

The module object itself is aliased (not copied), so every name, private ones included, and any
monkeypatching are shared with the product module.
"""

import sys

from linecall.bot.simulator import planet_group_relay as _module

sys.modules[__name__] = _module
