"""Shared agnews code used by every service (no torch here)."""

__version__ = "0.1.0"
