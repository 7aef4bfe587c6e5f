"""The engine: a process's session (corpus, banks, thresholds), the codec runner (round trips,
batching, caching, output checks), the scorer (metrics) and the preflight checks. No pytest."""
