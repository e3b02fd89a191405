"""Trunkline: trunk-based XP pipeline bot."""
__version__ = "0.1.0"
