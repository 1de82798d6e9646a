"""Moved to ``linecall.bot.simulator.legy_e2ee`` (the product's simulator); this alias keeps ``tests.sim.legy_e2ee`` working.

The module object itself is aliased (not copied), so every name, private ones included, and any
monkeypatching are shared with the product module.
"""

import sys

from linecall.bot.simulator import legy_e2ee as _module

sys.modules[__name__] = _module
