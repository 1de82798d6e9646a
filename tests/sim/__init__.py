"""Loopback simulators of LINE's side of a call, for tests and (later) the product's simulator.

Each module is one simulated service (the PLANET relay and answering peer in ``planet_relay``, the
Talk legy server in ``legy``). None depends on pytest, so they can be imported from scripts and
promoted into ``bot/simulator/`` as they are.
"""
