"""Errors raised by host inspection; each message is one line for the operator."""

from __future__ import annotations


class HostError(Exception):
    """The host could not be inspected (netlink unavailable, unknown interface, ...)."""
