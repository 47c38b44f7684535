"""asyncio TCP glue for BGP sessions, socket options, and unnumbered-peer discovery.

Modules: ``tcp`` (listener, connector, bounded connections, send-hold timer),
``endpoints`` (scoped addresses), ``backoff``, ``collision`` (RFC 4271 §6.8),
``sockopts`` (MD5, GTSM, ...), ``ra`` (RA/RS codec), ``ndsock`` (raw ICMPv6
socket), ``discovery`` (RaSender, PeerDiscovery, watch_interface). See
docs/transport.md.
"""
