"""The pytest integration: the options and this process's role (registered with pytest's plugin
manager), and the suites' helpers (records, ids, property-based draws)."""
