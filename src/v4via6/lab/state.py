"""The lab state file: what a lab has created, written before each resource exists.

``/run/v4via6/lab/<name>.json`` (root overridable with ``V4VIA6_LAB_STATE_DIR``)
lists the namespaces and processes of lab ``<name>``. Each is recorded *before*
it is created, so ``lab down`` can remove exactly what an interrupted ``lab up``
made, and nothing else. Next to it, ``<name>/`` holds generated router configs,
control sockets and logs.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from v4via6.lab.netns import NS_PREFIX

DEFAULT_STATE_ROOT = Path("/run/v4via6/lab")
STATE_VERSION = 1


class StateError(RuntimeError):
    """A state file is missing or unreadable; one line for the operator."""


def state_root() -> Path:
    """Where lab state files live."""
    env = os.environ.get("V4VIA6_LAB_STATE_DIR")
    return Path(env) if env else DEFAULT_STATE_ROOT


def ns_prefix(lab: str) -> str:
    """Every namespace of lab ``lab`` starts with this."""
    return f"{NS_PREFIX}{lab}-"


def ns_name(lab: str, node: str) -> str:
    """The namespace of ``node`` in lab ``lab``."""
    return f"{ns_prefix(lab)}{node}"


@dataclass
class ProcessRecord:
    """A background process the lab started (e.g. ``v4via6 run``) in a namespace."""

    node: str
    namespace: str
    cmd: list[str]
    pid: int | None = None
    socket: str | None = None
    log: str | None = None


@dataclass
class LabState:
    """Everything ``lab down`` needs, plus what ``status`` and ``draw`` show."""

    name: str
    source: str
    topology_text: str
    base_dir: str | None
    state_dir: str
    phase: str = "creating"
    routing: bool = True
    #: What routers without a config of their own run: "static" or "bgp".
    routing_mode: str = "static"
    created: float = field(default_factory=time.time)
    namespaces: list[str] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    configs: dict[str, str] = field(default_factory=dict)
    version: int = STATE_VERSION

    @property
    def path(self) -> Path:
        return state_file(self.name, Path(self.state_dir).parent)

    def save(self) -> None:
        """Write atomically (temp file + rename) and fsync, so a crash leaves a whole file."""
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        data = asdict(self)
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        procs = [ProcessRecord(**p) for p in data.get("processes", [])]
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["processes"] = procs
        return cls(**fields)


def state_file(lab: str, root: Path | None = None) -> Path:
    return (root or state_root()) / f"{lab}.json"


def load_state(lab: str, root: Path | None = None) -> LabState:
    """Read the state of lab ``lab``; StateError if there is none."""
    path = state_file(lab, root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StateError(f"no lab named {lab!r} (no {path})") from None
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("name") != lab:
        raise StateError(f"{path} is not a v4via6 lab state file")
    try:
        return LabState.from_json(data)
    except TypeError as exc:
        raise StateError(f"{path} is not a v4via6 lab state file: {exc}") from None


def list_labs(root: Path | None = None) -> list[str]:
    """Names of labs that have a state file."""
    base = root or state_root()
    try:
        return sorted(p.stem for p in base.glob("*.json"))
    except OSError:
        return []
