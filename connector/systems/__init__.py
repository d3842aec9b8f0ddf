"""Clients for the external systems: one package per system, on the shared `connector.http`.

A client knows its system's API and nothing of the other systems or of the canonical model.
"""
