"""PLANET/Cassini: the UDP call transport, its crypto, message schema and connection state machine."""
