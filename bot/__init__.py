"""The product: the daemon, command dispatch, call workers, HTTP API and CLI."""
