"""Wire protocols as sans-I/O cores (bytes and time in; bytes, timers and events out) with thin drivers."""
