"""Permission profiles (docs/SANDBOX.md) as Python values."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Union

from . import _lib


class Sandbox:
    """A permission profile for run()/create_subprocess_exec(sandbox=...).

    filesystem: "read-only" (write nowhere), "workspace-write" (write only
    below `writable_roots`, default ["."], plus the runner's temp dir; .git
    stays read-only), "full-access" (refused unless the runner allows it),
    or None (no filesystem restriction). Relative roots are resolved by the
    runner against `cwd` (default: this process's working directory), not
    against the command's cwd. network: False denies the network (Unix
    sockets remain)."""

    def __init__(self, filesystem: Optional[str] = "read-only", *,
                 writable_roots: Optional[Sequence[Any]] = None,
                 read_only_subpaths: Optional[Sequence[Any]] = None,
                 network: bool = True, cwd: Any = None) -> None:
        kinds = {None: 0, "read-only": _lib.FS_READ_ONLY,
                 "workspace-write": _lib.FS_WORKSPACE_WRITE,
                 "full-access": _lib.FS_FULL_ACCESS}
        if filesystem not in kinds:
            raise ValueError("sandbox filesystem must be one of read-only, "
                             "workspace-write, full-access or None, not %r"
                             % (filesystem,))
        if filesystem != "workspace-write" and (writable_roots or read_only_subpaths):
            raise ValueError("writable_roots and read_only_subpaths need "
                             "filesystem='workspace-write'")
        self.filesystem = filesystem
        self.writable_roots = list(writable_roots) if writable_roots is not None else (
            ["."] if filesystem == "workspace-write" else [])
        self.read_only_subpaths = list(read_only_subpaths or [])
        if filesystem == "workspace-write" and read_only_subpaths is None:
            self.read_only_subpaths = [".git"]
        self.network = network
        self.cwd = cwd

    def __repr__(self) -> str:
        return "Sandbox(%r, writable_roots=%r, network=%r)" % (
            self.filesystem, self.writable_roots, self.network)


SandboxArg = Union[None, str, Sandbox]


def profile_struct(sandbox: SandboxArg, network: bool,
                   keep: List[Any]) -> Optional[_lib.PermissionProfile]:
    """The C profile for (sandbox, network), or None for no profile.
    Arrays it points to are appended to `keep`."""
    if sandbox is None and network:
        return None
    if isinstance(sandbox, str):
        sandbox = Sandbox(sandbox)
    if sandbox is None:
        sandbox = Sandbox(None)
    elif not isinstance(sandbox, Sandbox):
        raise TypeError("sandbox must be None, a str or a tether.Sandbox")
    kinds = {None: 0, "read-only": _lib.FS_READ_ONLY,
             "workspace-write": _lib.FS_WORKSPACE_WRITE,
             "full-access": _lib.FS_FULL_ACCESS}
    prof = _lib.PermissionProfile()
    prof.filesystem = kinds[sandbox.filesystem]
    if sandbox.writable_roots:
        arr = _lib.cstr_array([os.fsencode(r) for r in sandbox.writable_roots])
        keep.append(arr)
        prof.writable_roots = arr
    if sandbox.read_only_subpaths:
        arr = _lib.cstr_array([os.fsencode(r) for r in sandbox.read_only_subpaths])
        keep.append(arr)
        prof.read_only_subpaths = arr
    allowed = sandbox.network and network
    prof.network = 0 if allowed else _lib.NET_DENIED
    cwd = sandbox.cwd if sandbox.cwd is not None else os.getcwd()
    cwd_b = os.fsencode(os.path.abspath(cwd))
    keep.append(cwd_b)
    prof.cwd = cwd_b
    return prof
