"""What decoding and encoding depend on: the capabilities negotiated for a session.

A :class:`Context` is immutable; the session builds one when it reaches
OpenConfirm and passes it to every decode/encode call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AFI_IPV4 = 1
AFI_IPV6 = 2
SAFI_UNICAST = 1

IPV4_UNICAST = (AFI_IPV4, SAFI_UNICAST)
IPV6_UNICAST = (AFI_IPV6, SAFI_UNICAST)
#: The RFC 8950 tuple: IPv4 unicast NLRI with an IPv6 next hop.
IPV4_UNICAST_VIA_IPV6 = (AFI_IPV4, SAFI_UNICAST, AFI_IPV6)

#: RFC 4271 maximum message size, and RFC 8654 extended message size.
MAX_MESSAGE = 4096
MAX_EXTENDED_MESSAGE = 65535
HEADER_LEN = 19

AFI_NAMES = {AFI_IPV4: "ipv4", AFI_IPV6: "ipv6"}
SAFI_NAMES = {SAFI_UNICAST: "unicast", 2: "multicast", 4: "labeled-unicast", 128: "vpn"}


def afi_safi_name(afi: int, safi: int) -> str:
    """``ipv4/unicast``; unknown numbers print as ``afi 25/safi 70``."""
    if afi in AFI_NAMES and safi in SAFI_NAMES:
        return f"{AFI_NAMES[afi]}/{SAFI_NAMES[safi]}"
    return f"afi {afi}/safi {safi}"


@dataclass(frozen=True, slots=True)
class Context:
    """Negotiated session state the codec needs.

    - ``four_octet_as``: RFC 6793 negotiated (AS_PATH with 4-octet ASNs).
    - ``extended_message``: RFC 8654 negotiated (UPDATE up to 65535 bytes).
    - ``add_path_rx``: (afi, safi) for which NLRI we *receive* carry path ids.
    - ``add_path_tx``: (afi, safi) for which NLRI we *send* carry path ids.
    - ``extended_nexthop``: RFC 8950 (afi, safi, nexthop afi) tuples both sides
      advertised; an IPv6 next hop for IPv4 NLRI is only accepted/sent if
      ``(1, 1, 2)`` is here.
    """

    four_octet_as: bool = True
    extended_message: bool = False
    add_path_rx: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    add_path_tx: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    extended_nexthop: frozenset[tuple[int, int, int]] = field(default_factory=frozenset)

    @property
    def max_len(self) -> int:
        """Largest UPDATE/NOTIFICATION/ROUTE-REFRESH allowed on this session."""
        return MAX_EXTENDED_MESSAGE if self.extended_message else MAX_MESSAGE


#: A context that accepts everything modern peers send (used by the decoder CLI
#: when it has not seen the OPENs).
PERMISSIVE = Context(
    four_octet_as=True,
    extended_message=True,
    extended_nexthop=frozenset({IPV4_UNICAST_VIA_IPV6}),
)
