"""linecall: place LINE voice calls from a daemon and play audio into them.

The source tree keeps the four rooms of the design card at the repository root (``bot/``,
``protocol/``, ``media/``, ``config/``); this package links them under one import name so that
``import linecall.protocol`` can never collide with another distribution's ``config`` or ``protocol``.
"""

__version__ = "0.1.0"
