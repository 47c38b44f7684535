"""RIB: Adj-RIB-In, Loc-RIB, best path, policy and channels.

Modules:
  attrs        Protocols for what the RIB reads from BGP attributes / next hops
  plain_attrs  small frozen implementations (local routes, tests, benchmarks)
  keys         prefix keys: ``(network_int << 8) | prefix_len``
  intern       bounded value interner
  path         PeerInfo (a route source), PathRef (one shared path), Resolution
  nexthop      next-hop resolution to (address, interface) + IGP cost
  adj_in       Adj-RIB-In per peer, before policy
  policy       import/export policy parsing and evaluation, RFC 8212
  bestpath     RFC 4271 §9.1 decision process with reasons, ECMP grouping
  loc_rib      best path(s) per prefix, deltas for changed prefixes only
  channel      Channel (peer <-> table) and FibChannel (table -> kernel)
  show         JSON-ready views for ``show routes``
"""
