"""Fediverse server for French communes and intercommunalities (ActivityPub)."""

__version__ = "0.1.0"
SOFTWARE_NAME = "fediverse-territoire"
