"""v4via6: IPv4 routes via IPv6 next hops (RFC 8950) for Linux."""

__version__ = "0.1.0"
