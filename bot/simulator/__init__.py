"""linecall's LINE simulator: LINE's side of Talk and of a call, on loopback, for tests and ``linecall demo``.

Each module is one simulated service, built from linecall's own codecs so that it checks requests as strictly
as it answers them: the Talk legy server (``legy``, plain and through the encrypted gateway, with fault
injection; ``legy_e2ee`` plugs in the Letter Sealing key RPCs and QR login), the PLANET relay with its
answering peer that decodes what it hears (``planet_relay``, on the sans-I/O ``planet_relay_core``), and
:class:`~linecall.bot.simulator.line.LineSimulator`, which runs them together as one LINE for a daemon to
talk to. Nothing here imports pytest; ``tests/sim/`` keeps thin aliases of these modules for older tests.
"""
