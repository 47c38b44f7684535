"""Lab topology files: TOML schema (pydantic), validation and address assignment.

A topology names nodes (``host`` or ``router``) and links between them. Loading
turns the file into a :class:`Topology` with every address decided, or raises
:class:`TopologyError` naming the file, the key and the problem; nothing is
created before a topology has loaded cleanly.

Addressing rules:

* host links (host — router) carry IPv4: the router end is the first address
  of the subnet, the host end the second (optionally IPv6 ``subnet6`` too);
* router — router links carry only IPv6 link-local addresses: ``fe80::<n>``
  where n is the router's number (1 for the first router in the file), or
  set per end, or ``"kernel"`` for the kernel-assigned one;
* router loopbacks: ``203.0.113.<n>/32`` and ``2001:db8:ffff::<n>/128`` by
  default, an explicit address, or ``"none"``.

The interface on node X that leads to node Y is called ``to-Y``.

``routing`` says what a router without a config of its own runs: ``"static"``
(the default for files: routes computed from the topology) or ``"bgp"`` (the
built-in topology: a generated BGP daemon config with one unnumbered peer per
router-router link, see :mod:`v4via6.lab.routing`).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

#: Shown as the file name of the built-in topology in messages and status.
BUILTIN_SOURCE = "<built-in default>"

NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,9}$")
LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,12}$")

_HOST_POOL = (IPv4Network("192.0.2.0/24"), IPv4Network("198.51.100.0/24"))
_LOOPBACK4_POOL = IPv4Network("203.0.113.0/24")
_LOOPBACK6_POOL = ipaddress.IPv6Network("2001:db8:ffff::/64")

RoutingMode = Literal["static", "bgp"]
ROUTING_MODES: tuple[RoutingMode, ...] = ("static", "bgp")


class TopologyError(ValueError):
    """A topology file is wrong: ``FILE: KEY: problem`` on one line."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


# ---------------------------------------------------------------- file schema


def _check_v4_host(value: str, what: str, prefixlen: int | None) -> str:
    try:
        iface = IPv4Interface(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 {what} like 203.0.113.1/32") from None
    if prefixlen is not None and iface.network.prefixlen != prefixlen:
        raise ValueError(f"{value!r} must be a /{prefixlen}")
    return value


class NodeSpec(BaseModel):
    """``[nodes.NAME]`` in the file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["host", "router"]
    loopback4: str = "auto"
    loopback6: str = "auto"
    config: dict[str, Any] | str | None = None
    sysctls: dict[str, str | int] = {}

    @field_validator("loopback4")
    @classmethod
    def _lo4(cls, v: str) -> str:
        if v in ("auto", "none"):
            return v
        return _check_v4_host(v, "/32 loopback address", 32)

    @field_validator("loopback6")
    @classmethod
    def _lo6(cls, v: str) -> str:
        if v in ("auto", "none"):
            return v
        try:
            iface = IPv6Interface(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv6 /128 like 2001:db8:ffff::1/128") from None
        if iface.network.prefixlen != 128:
            raise ValueError(f"{v!r} must be a /128")
        return v


class LinkSpec(BaseModel):
    """One ``[[links]]`` entry in the file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    a: str
    b: str
    subnet: str = "auto"
    a_ipv4: str | None = None
    b_ipv4: str | None = None
    subnet6: str | None = None
    a_ll: str | None = None
    b_ll: str | None = None
    mtu: int | None = None

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, v: str) -> str:
        if v == "auto":
            return v
        try:
            net = IPv4Network(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv4 subnet like 192.0.2.0/24") from None
        if net.prefixlen > 30:
            raise ValueError(f"{v!r} is too small for two hosts (at most /30)")
        return v

    @field_validator("subnet6")
    @classmethod
    def _subnet6(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            ipaddress.IPv6Network(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv6 subnet like 2001:db8:1::/64") from None
        return v

    @field_validator("a_ipv4", "b_ipv4")
    @classmethod
    def _v4(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            IPv4Address(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv4 address like 192.0.2.1") from None
        return v

    @field_validator("a_ll", "b_ll")
    @classmethod
    def _ll(cls, v: str | None) -> str | None:
        if v is None or v == "kernel":
            return v
        try:
            addr = IPv6Address(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv6 link-local address like fe80::1") from None
        if not addr.is_link_local:
            raise ValueError(f"{v!r} is not link-local (fe80::/10)")
        return v

    @field_validator("mtu")
    @classmethod
    def _mtu(cls, v: int | None) -> int | None:
        if v is not None and not 1280 <= v <= 65535:
            raise ValueError(f"mtu {v} is not in 1280..65535 (IPv6 needs at least 1280)")
        return v


class TopologyFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = None
    routing: RoutingMode = "static"
    nodes: dict[str, NodeSpec]
    links: list[LinkSpec] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not LAB_NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a lab name (1..12 of a-z 0-9)")
        return v


# ---------------------------------------------------------------- resolved form


@dataclass
class Interface:
    """One end of a link, with every address decided."""

    node: str
    peer: str
    ifname: str
    ipv4: IPv4Interface | None = None
    ipv6: IPv6Interface | None = None
    #: Fixed link-local address (core links), or None when kernel-assigned.
    link_local: IPv6Address | None = None
    mtu: int | None = None


@dataclass
class Link:
    """A veth pair between two nodes; ``kind`` is "host" or "core"."""

    a: Interface
    b: Interface
    kind: Literal["host", "core"]

    def end(self, node: str) -> Interface:
        return self.a if self.a.node == node else self.b

    def other(self, node: str) -> Interface:
        return self.b if self.a.node == node else self.a


@dataclass
class Node:
    """A host or router with its loopbacks, interfaces and v4via6 config."""

    name: str
    kind: Literal["host", "router"]
    number: int
    loopback4: IPv4Interface | None = None
    loopback6: IPv6Interface | None = None
    config: dict[str, Any] | None = None
    config_path: Path | None = None
    sysctls: dict[str, str | int] = field(default_factory=dict)
    interfaces: list[Interface] = field(default_factory=list)

    @property
    def is_router(self) -> bool:
        return self.kind == "router"


@dataclass
class Topology:
    """A validated topology: nodes by name (file order) and links."""

    name: str
    source: str
    text: str
    nodes: dict[str, Node]
    links: list[Link]
    #: Directory that relative config paths are resolved against.
    base_dir: Path | None = None
    #: What routers without a config of their own run: "static" or "bgp".
    routing: RoutingMode = "static"

    @property
    def routers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_router]

    @property
    def hosts(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.is_router]

    def interface(self, node: str, peer: str) -> Interface:
        """The interface on ``node`` that leads to ``peer``."""
        for iface in self.node(node).interfaces:
            if iface.peer == peer:
                return iface
        raise KeyError(f"{node} has no link to {peer}")

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no node {name!r} (nodes: {', '.join(self.nodes)})") from None

    def host_link(self, host: str) -> Interface:
        """The (only) interface of a host."""
        return self.node(host).interfaces[0]

    def address_of(self, name: str) -> IPv4Address | None:
        """The IPv4 address that stands for a node: host address or router loopback."""
        node = self.node(name)
        if node.is_router:
            if node.loopback4 is not None:
                return node.loopback4.ip
            for iface in node.interfaces:
                if iface.ipv4 is not None:
                    return iface.ipv4.ip
            return None
        ipv4 = node.interfaces[0].ipv4
        return ipv4.ip if ipv4 is not None else None

    def owner_of(self, addr: IPv4Address) -> tuple[str, str] | None:
        """Which node holds ``addr``, and where: ("r1", "lo") or ("h1", "to-r1")."""
        for node in self.nodes.values():
            if node.loopback4 is not None and node.loopback4.ip == addr:
                return node.name, "lo"
            for iface in node.interfaces:
                if iface.ipv4 is not None and iface.ipv4.ip == addr:
                    return node.name, iface.ifname
        return None

    def iter_interfaces(self) -> Iterator[Interface]:
        for link in self.links:
            yield link.a
            yield link.b

    def with_routing(self, mode: RoutingMode) -> Topology:
        """A copy whose routers without a config of their own run ``mode``."""
        if mode not in ROUTING_MODES:
            raise ValueError(f"routing {mode!r}: expected one of {', '.join(ROUTING_MODES)}")
        return replace(self, routing=mode)


# ---------------------------------------------------------------- loading


def builtin_text() -> str:
    """The text of the built-in default topology."""
    return resources.files("v4via6.lab").joinpath("default.toml").read_text(encoding="utf-8")


def load_default() -> Topology:
    """The built-in ``h1 — r1 — r2 — r3 — h2`` topology."""
    return parse(builtin_text(), BUILTIN_SOURCE)


def load_file(path: str | Path) -> Topology:
    """Load and validate a topology file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopologyError(str(p), "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(str(p), "", f"cannot read: {exc}") from None
    return parse(text, str(p), base_dir=p.parent)


def _loc_to_key(loc: tuple[int | str, ...]) -> str:
    """``("links", 2, "b")`` -> ``links[2].b``, leaving out pydantic's union-member tags."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part in ("str", "int") or "[" in part:
            continue  # "dict[str,any]", "function-after[...]": which union member was tried
        else:
            key += ("." if key else "") + part
    return key


def _pydantic_problem(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    elif err.get("type") == "missing":
        msg = "required key is missing"
    return msg


def parse(text: str, source: str, base_dir: Path | None = None) -> Topology:
    """Parse and validate topology TOML ``text`` (``source`` names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(source, "", f"not valid TOML: {exc}") from None
    try:
        spec = TopologyFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _loc_to_key(tuple(first["loc"]))
        raise TopologyError(source, key, _pydantic_problem(first)) from None
    return _Resolver(spec, source, text, base_dir).resolve()


class _Resolver:
    """Cross-checks a parsed file and assigns every address."""

    def __init__(self, spec: TopologyFile, source: str, text: str, base_dir: Path | None) -> None:
        self.spec = spec
        self.source = source
        self.text = text
        self.base_dir = base_dir
        self.used4: dict[IPv4Address, str] = {}
        self.used6: dict[IPv6Address, str] = {}
        self.subnets: dict[IPv4Network, str] = {}

    def err(self, key: str, problem: str) -> TopologyError:
        return TopologyError(self.source, key, problem)

    def claim4(self, addr: IPv4Address, key: str) -> None:
        if addr in self.used4:
            raise self.err(key, f"duplicate address {addr} (also used by {self.used4[addr]})")
        self.used4[addr] = key

    def claim6(self, addr: IPv6Address, key: str) -> None:
        if addr in self.used6:
            raise self.err(key, f"duplicate address {addr} (also used by {self.used6[addr]})")
        self.used6[addr] = key

    def resolve(self) -> Topology:
        spec = self.spec
        if not spec.nodes:
            raise self.err("nodes", "a topology needs at least one node")
        nodes: dict[str, Node] = {}
        router_no = 0
        for name, ns in spec.nodes.items():
            if not NODE_NAME_RE.match(name):
                raise self.err(
                    f"nodes.{name}",
                    "bad node name: use 1..10 of a-z 0-9 _ starting with a letter",
                )
            if ns.kind == "router":
                router_no += 1
            nodes[name] = Node(name, ns.kind, router_no if ns.kind == "router" else 0)
            self._node_extras(name, ns, nodes[name])
        self._explicit_loopbacks(nodes)
        links = self._links(nodes)
        self._auto_loopbacks(nodes)
        for node in nodes.values():
            if not node.is_router and len(node.interfaces) != 1:
                raise self.err(
                    f"nodes.{node.name}",
                    f"a host needs exactly one link (it has {len(node.interfaces)})",
                )
        name = spec.name or "lab"
        return Topology(name, self.source, self.text, nodes, links, self.base_dir, spec.routing)

    def _node_extras(self, name: str, ns: NodeSpec, node: Node) -> None:
        key = f"nodes.{name}"
        if ns.kind == "host":
            for attr in ("config",):
                if getattr(ns, attr) is not None:
                    raise self.err(f"{key}.{attr}", "only routers have a v4via6 config")
            if ns.loopback4 not in ("auto", "none") or ns.loopback6 not in ("auto", "none"):
                raise self.err(f"{key}.loopback4", "only routers have loopback addresses")
        node.sysctls = dict(ns.sysctls)
        for sk in ns.sysctls:
            if not re.match(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$", sk):
                raise self.err(f"{key}.sysctls.{sk}", "not a sysctl name like net.ipv4.ip_forward")
        if isinstance(ns.config, dict):
            node.config = ns.config
        elif isinstance(ns.config, str):
            base = self.base_dir or Path.cwd()
            path = (base / ns.config).resolve()
            try:
                node.config = tomllib.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise self.err(f"{key}.config", f"config file {path} does not exist") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise self.err(f"{key}.config", f"cannot read {path}: {exc}") from None
            except tomllib.TOMLDecodeError as exc:
                raise self.err(f"{key}.config", f"{path} is not valid TOML: {exc}") from None
            node.config_path = path

    def _explicit_loopbacks(self, nodes: dict[str, Node]) -> None:
        for name, ns in self.spec.nodes.items():
            node = nodes[name]
            if ns.kind != "router":
                continue
            if ns.loopback4 not in ("auto", "none"):
                node.loopback4 = IPv4Interface(ns.loopback4)
                self.claim4(node.loopback4.ip, f"nodes.{name}.loopback4")
            if ns.loopback6 not in ("auto", "none"):
                node.loopback6 = IPv6Interface(ns.loopback6)
                self.claim6(node.loopback6.ip, f"nodes.{name}.loopback6")

    def _auto_loopbacks(self, nodes: dict[str, Node]) -> None:
        for name, ns in self.spec.nodes.items():
            node = nodes[name]
            if ns.kind != "router":
                continue
            key = f"nodes.{name}"
            if ns.loopback4 == "auto":
                addr4 = self._free4(node.number)
                if addr4 is None:
                    raise self.err(f"{key}.loopback4", "no free address left in 203.0.113.0/24")
                node.loopback4 = IPv4Interface(f"{addr4}/32")
                self.claim4(addr4, f"{key}.loopback4")
            if ns.loopback6 == "auto":
                n = node.number
                while _LOOPBACK6_POOL[n] in self.used6:
                    n += 1
                node.loopback6 = IPv6Interface(f"{_LOOPBACK6_POOL[n]}/128")
                self.claim6(node.loopback6.ip, f"{key}.loopback6")

    def _free4(self, start: int) -> IPv4Address | None:
        for n in [start, *range(1, 255)]:
            if not 1 <= n <= 254:
                continue
            cand = _LOOPBACK4_POOL[n]
            if cand not in self.used4 and not any(cand in s for s in self.subnets):
                return cand
        return None

    def _links(self, nodes: dict[str, Node]) -> list[Link]:
        seen_pairs: dict[frozenset[str], int] = {}
        kinds: list[Literal["host", "core"]] = []
        for i, ls in enumerate(self.spec.links):
            key = f"links[{i}]"
            for end in ("a", "b"):
                nm = getattr(ls, end)
                if nm not in nodes:
                    raise self.err(
                        f"{key}.{end}",
                        f"unknown node {nm!r} (nodes: {', '.join(nodes)})",
                    )
            if ls.a == ls.b:
                raise self.err(key, f"a link needs two different nodes (both are {ls.a!r})")
            pair = frozenset((ls.a, ls.b))
            if pair in seen_pairs:
                raise self.err(
                    key, f"{ls.a} and {ls.b} are already linked by links[{seen_pairs[pair]}]"
                )
            seen_pairs[pair] = i
            ka, kb = nodes[ls.a].kind, nodes[ls.b].kind
            if ka == "host" and kb == "host":
                raise self.err(key, f"host {ls.a} linked to host {ls.b}; put a router between")
            kind: Literal["host", "core"] = "core" if ka == kb == "router" else "host"
            kinds.append(kind)
            if kind == "core":
                for attr in ("a_ipv4", "b_ipv4", "subnet6"):
                    if getattr(ls, attr) is not None:
                        raise self.err(
                            f"{key}.{attr}",
                            "router-router links carry only IPv6 link-local addresses",
                        )
                if ls.subnet != "auto":
                    raise self.err(
                        f"{key}.subnet", "router-router links carry only IPv6 link-local addresses"
                    )
            else:
                for attr in ("a_ll", "b_ll"):
                    if getattr(ls, attr) is not None:
                        raise self.err(
                            f"{key}.{attr}", "link-local addresses are set on router-router links"
                        )
                if ls.subnet != "auto":
                    net = IPv4Network(ls.subnet)
                    for other, okey in self.subnets.items():
                        if net.overlaps(other):
                            raise self.err(f"{key}.subnet", f"{net} overlaps {other} of {okey}")
                    for addr, akey in self.used4.items():
                        if addr in net:
                            raise self.err(f"{key}.subnet", f"{net} contains {addr} of {akey}")
                    self.subnets[net] = key
        auto_count = sum(
            1
            for ls, kd in zip(self.spec.links, kinds, strict=True)
            if kd == "host" and ls.subnet == "auto"
        )
        pool = self._auto_subnets(auto_count)
        links: list[Link] = []
        for i, (ls, kind) in enumerate(zip(self.spec.links, kinds, strict=True)):
            links.append(self._make_link(i, ls, kind, nodes, pool))
        return links

    def _auto_subnets(self, count: int) -> list[IPv4Network]:
        if count == 0:
            return []
        prefix = 24 if count <= 2 else 27
        pool: list[IPv4Network] = []
        for big in _HOST_POOL:
            for net in big.subnets(new_prefix=prefix):
                if any(net.overlaps(s) for s in self.subnets):
                    continue
                if any(a in net for a in self.used4):
                    continue
                pool.append(net)
        if len(pool) < count:
            raise self.err(
                "links",
                f"{count} host links need automatic subnets but only {len(pool)} are free;"
                " set 'subnet' on some links",
            )
        return pool[:count]

    def _make_link(
        self,
        i: int,
        ls: LinkSpec,
        kind: Literal["host", "core"],
        nodes: dict[str, Node],
        pool: list[IPv4Network],
    ) -> Link:
        key = f"links[{i}]"
        a = Interface(ls.a, ls.b, f"to-{ls.b}", mtu=ls.mtu)
        b = Interface(ls.b, ls.a, f"to-{ls.a}", mtu=ls.mtu)
        if kind == "core":
            for end, iface, val in (("a", a, ls.a_ll), ("b", b, ls.b_ll)):
                if val == "kernel":
                    iface.link_local = None
                elif val is not None:
                    iface.link_local = IPv6Address(val)
                else:
                    iface.link_local = IPv6Address(f"fe80::{nodes[iface.node].number:x}")
                _ = end
            if a.link_local is not None and a.link_local == b.link_local:
                raise self.err(
                    f"{key}.b_ll",
                    f"duplicate address {b.link_local}: both ends of the link have it",
                )
        else:
            if ls.subnet == "auto":
                net = pool.pop(0)
                self.subnets[net] = key
            else:
                net = IPv4Network(ls.subnet)
            router_end, host_end = (a, b) if nodes[ls.a].kind == "router" else (b, a)
            hosts = net.hosts()
            defaults = {router_end.node: next(hosts), host_end.node: next(hosts)}
            for end, iface, val in (("a", a, ls.a_ipv4), ("b", b, ls.b_ipv4)):
                addr = IPv4Address(val) if val is not None else defaults[iface.node]
                if addr not in net or addr in (net.network_address, net.broadcast_address):
                    raise self.err(f"{key}.{end}_ipv4", f"{addr} is not a host address of {net}")
                self.claim4(addr, f"{key}.{end}_ipv4")
                iface.ipv4 = IPv4Interface(f"{addr}/{net.prefixlen}")
            if ls.subnet6 is not None:
                net6 = ipaddress.IPv6Network(ls.subnet6)
                for iface, n in ((router_end, 1), (host_end, 2)):
                    addr6 = net6[n]
                    self.claim6(addr6, f"{key}.subnet6")
                    iface.ipv6 = IPv6Interface(f"{addr6}/{net6.prefixlen}")
        nodes[ls.a].interfaces.append(a)
        nodes[ls.b].interfaces.append(b)
        return Link(a, b, kind)
