"""Analyses that turn codec outputs into probe values: linearity, frequency response, tokens."""
