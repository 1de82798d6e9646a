"""Aliases of the loopback simulators, which now live in the product as ``linecall.bot.simulator``.

``tests.sim.<module>`` is the same module object as ``linecall.bot.simulator.<module>``; new simulator code
belongs in ``bot/simulator/``.
"""
