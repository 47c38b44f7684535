"""The validated configuration model (pydantic v2).

One TOML file holds everything: ``[[static.route]]`` entries now, ``[bgp]`` and
``[control]`` for the daemon. Validation turns text into model values
(``v4via6.model.Route``) and rejects anything ambiguous: host bits set, IPv6
prefixes where IPv4 is meant, link-local next hops without an interface,
duplicate routes.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from v4via6.model import MAIN_TABLE, Hop, ModelError, NextHop, Route, parse_prefix


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ViaEntry(_Strict):
    """A next hop in table form: ``{ nexthop = "fe80::1%eth0", weight = 2 }``."""

    nexthop: str
    weight: int = Field(default=1, ge=1, le=256)

    @field_validator("nexthop")
    @classmethod
    def _check_nexthop(cls, value: str) -> str:
        try:
            NextHop.parse(value)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return value


def _via_entry(value: Any) -> Any:
    if isinstance(value, str):
        return {"nexthop": value}
    return value


ViaList = Annotated[
    list[Annotated[ViaEntry, BeforeValidator(_via_entry)]],
    BeforeValidator(_as_list),
]


class StaticRoute(_Strict):
    """One ``[[static.route]]`` entry."""

    prefix: str
    via: ViaList = Field(min_length=1)
    src: IPv4Address | None = None
    metric: int = Field(default=0, ge=0, le=0xFFFFFFFF)
    table: int = Field(default=MAIN_TABLE, ge=1, le=0xFFFFFFFF)

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        try:
            parse_prefix(value)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("src", mode="before")
    @classmethod
    def _check_src(cls, value: Any) -> Any:
        if isinstance(value, str) and ":" in value:
            raise ValueError(f"{value!r} is IPv6; src must be an IPv4 address of this box")
        return value

    @model_validator(mode="after")
    def _check_unique_vias(self) -> StaticRoute:
        seen: dict[NextHop, int] = {}
        for i, entry in enumerate(self.via):
            nh = NextHop.parse(entry.nexthop)
            if nh in seen:
                raise ValueError(f"next hop {entry.nexthop!r} is listed twice (via[{seen[nh]}])")
            seen[nh] = i
        return self

    def to_route(self) -> Route:
        hops = tuple(Hop(NextHop.parse(v.nexthop), v.weight) for v in self.via)
        return Route(parse_prefix(self.prefix), hops, self.metric, self.src, self.table)


class StaticConfig(_Strict):
    """The ``[static]`` section."""

    route: list[StaticRoute] = Field(default_factory=list)


def _check_network(value: str) -> str:
    try:
        import ipaddress

        if ":" in value:
            ipaddress.IPv6Network(value, strict=True)
        else:
            parse_prefix(value)
    except (ModelError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    return value


Network = Annotated[str, AfterValidator(_check_network)]


Family = Literal["ipv4", "ipv6"]


def _default_families() -> list[Family]:
    return ["ipv4", "ipv6"]


class BgpPeer(_Strict):
    """One ``[[bgp.peer]]``: by interface (unnumbered), link-local or global IPv6 address."""

    name: str | None = None
    interface: str | None = None
    address: str | None = None
    remote_as: int | Literal["external", "internal"]
    passive: bool = False
    hold_time: int = Field(default=90, ge=0, le=65535)
    connect_retry: float = Field(default=5.0, gt=0, le=3600)
    port: int = Field(default=179, ge=1, le=65535)
    families: list[Family] = Field(default_factory=_default_families)
    extended_nexthop: bool = True
    import_: Any = Field(default=None, alias="import")
    export: Any = None
    multipath: bool = False
    ttl_security: bool = False

    @field_validator("remote_as", mode="before")
    @classmethod
    def _check_as(cls, value: Any) -> int | str:
        if value in ("external", "internal"):
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 0xFFFFFFFF:
            return value
        raise ValueError(f"{value!r}: expected an AS number (1..4294967295), \"external\" or \"internal\"")

    @field_validator("import_", "export")
    @classmethod
    def _check_policy(cls, value: Any) -> Any:
        if value is None:
            return None
        from v4via6.rib.policy import parse_policy

        try:
            parse_policy(value, "policy")
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix("policy: ").removeprefix("policy.")) from None
        return value

    @field_validator("hold_time")
    @classmethod
    def _check_hold(cls, value: int) -> int:
        if value in (1, 2):
            raise ValueError("hold time must be 0 or at least 3 seconds (RFC 4271)")
        return value

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            nh = NextHop.parse(value)
        except ModelError as exc:
            raise ValueError(str(exc).replace("next hop", "peer address")) from None
        if nh.addr is None or nh.addr.version != 6:
            raise ValueError(f"{value!r}: expected an IPv6 peer address like fe80::2%eth1 or 2001:db8::2")
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> BgpPeer:
        if (self.interface is None) == (self.address is None):
            raise ValueError("set exactly one of 'interface' (unnumbered) or 'address'")
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.interface or self.address or "?"

    @property
    def peer_nexthop(self) -> NextHop | None:
        return NextHop.parse(self.address) if self.address else None


class BgpConfig(_Strict):
    """The ``[bgp]`` section."""

    asn: int = Field(ge=1, le=0xFFFFFFFF)
    router_id: IPv4Address | None = None
    networks: list[Network] = Field(default_factory=list)
    redistribute: list[Literal["connected", "static"]] = Field(default_factory=list)
    listen: bool = True
    listen_port: int = Field(default=179, ge=1, le=65535)
    peer: list[BgpPeer] = Field(default_factory=list)


class ControlConfig(_Strict):
    """The ``[control]`` section: where the daemon's control socket lives."""

    socket: str = "/run/v4via6/v4via6.sock"


class Config(_Strict):
    """The whole configuration file."""

    static: StaticConfig = Field(default_factory=StaticConfig)
    bgp: BgpConfig | None = None
    control: ControlConfig = Field(default_factory=ControlConfig)

    def static_routes(self) -> list[Route]:
        return [r.to_route() for r in self.static.route]
