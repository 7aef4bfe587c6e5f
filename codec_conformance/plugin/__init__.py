"""The pytest integration: hooks, settings, preflight, the session and the suites' helpers."""
