"""Omnichannel sync middleware: one customer, one order, one bonus balance across every system."""

__version__ = "0.1.0"
