"""RIB: Adj-RIB-In, Loc-RIB, best path, policy and channels."""
