"""Moved to ``linecall.bot.simulator.planet_script`` (the product's simulator); this alias keeps ``tests.sim.planet_script`` working.

The module object itself is aliased (not copied), so every name, private ones included, and any
monkeypatching are shared with the product module.
"""

import sys

from linecall.bot.simulator import planet_script as _module

sys.modules[__name__] = _module
