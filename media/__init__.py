"""WAV in, Opus payloads out, and the clock that releases them."""
