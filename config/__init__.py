"""Settings (pydantic-settings) and logging setup."""
