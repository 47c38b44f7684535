"""Diagnostics: preflight checks, route-get explanations and route listings.

Everything here is a pure function over data snapshots (``v4via6.host``), so
it unit-tests without root; the CLI gathers the snapshots and prints results.
"""
