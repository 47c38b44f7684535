"""Reconcile computes the minimal change and never plans to touch foreign routes."""

from __future__ import annotations

from v4via6.fib.backend import KernelRoute, OpKind
from v4via6.fib.reconcile import plan
from v4via6.model import PROTO_NUMBER, Route


def own(route: Route) -> KernelRoute:
    return KernelRoute(route, PROTO_NUMBER, "v4via6")


def foreign(route: Route, proto: int = 4, name: str = "static") -> KernelRoute:
    return KernelRoute(route, proto, name)


A = Route.simple("198.51.100.0/24", "fe80::1%eth0")
A2 = Route.simple("198.51.100.0/24", "fe80::1%eth0", "fe80::2%eth1")
B = Route.simple("203.0.113.0/24", "fe80::1%eth0", src="192.0.2.1")
C = Route.simple("192.0.2.0/25", "fe80::3%eth0")


def test_empty_kernel_adds_everything() -> None:
    p = plan([A, B], [])
    assert [op.kind for op in p.ops] == [OpKind.ADD, OpKind.ADD]
    assert {op.route for op in p.adds} == {A, B}
    assert not p.deletes and not p.replaces


def test_idempotent_second_run_is_empty() -> None:
    p = plan([A, B], [own(A), own(B)])
    assert p.empty and p.unchanged == 2
    assert p.lines() == []


def test_replace_changed_next_hops_and_delete_stale() -> None:
    p = plan([A2, B], [own(A), own(B), own(C)])
    assert [op.route for op, _ in p.replaces] == [A2]
    assert p.replaces[0][1] == A
    assert [op.route for op in p.deletes] == [C]
    assert not p.adds
    lines = p.lines()
    assert lines[0].startswith("- delete 192.0.2.0/25")
    assert lines[1].startswith("~ replace 198.51.100.0/24") and "(was: " in lines[1]


def test_hop_order_does_not_matter() -> None:
    b_then_a = Route.simple("198.51.100.0/24", "fe80::2%eth1", "fe80::1%eth0")
    assert plan([A2], [own(b_then_a)]).empty


def test_foreign_route_with_same_key_is_a_clash_and_untouched() -> None:
    bird = foreign(Route.simple("198.51.100.0/24", "fe80::9%eth0"), 12, "bird")
    p = plan([A], [bird])
    assert p.empty
    assert len(p.clashes) == 1 and "proto bird" in p.clashes[0].describe()
    assert all(op.route != bird.route for op in p.ops)


def test_foreign_routes_are_never_deleted() -> None:
    p = plan([], [foreign(A), foreign(B, 2, "kernel"), own(C)])
    assert [op.route for op in p.deletes] == [C]


def test_foreign_lower_metric_is_noted() -> None:
    ours = Route.simple("198.51.100.0/24", "fe80::1%eth0", metric=100)
    p = plan([ours], [foreign(Route.simple("198.51.100.0/24", "fe80::5%eth0", metric=10))])
    assert [op.route for op in p.adds] == [ours]
    assert "prefers it" in p.shadows[0].describe()


def test_src_change_is_a_replace() -> None:
    b_other_src = Route.simple("203.0.113.0/24", "fe80::1%eth0", src="192.0.2.2")
    p = plan([b_other_src], [own(B)])
    assert len(p.replaces) == 1
