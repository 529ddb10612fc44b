"""An example watchfloor plugin: a JSON-file backend and an ``http_check`` step (tests only)."""
