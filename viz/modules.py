"""Module calls as groups of graph nodes (read through ``tensor.op_module_call``).

Every op recorded inside an ``nn.Module``'s forward carries that call; the calls around an op,
outermost first, say which boxes it belongs to (``blocks.0`` holds ``blocks.0.attn`` holds the
op). The outermost call (the whole model) is no group. A parameter joins the call of its module
when exactly one call of that module used it; the parameters of a module called several times
(a GRU cell's, used at every step) make a box of their own (``cell parameters``).
"""
from __future__ import annotations

from typing import Any

from autograd_np import Tensor


class ModuleGroups:
    """``chains[i]``: the group keys around ``order[i]``, outermost first; ``groups[key]``: its
    ``path``, ``label`` (``blocks.0.attn (CausalSelfAttention)``), ``parent`` key and ``size``."""

    def __init__(self, order: list[Tensor], names: dict[int, str]) -> None:
        self.groups: dict[str, dict] = {}
        self._keys: dict[int, str] = {}
        self.chains = [self._chain(t.op_module_call) for t in order]
        calls_of: dict[str, list[list[str]]] = {}
        for chain in self.chains:
            if chain:
                found = calls_of.setdefault(self.groups[chain[-1]]["path"], [])
                if chain not in found:
                    found.append(chain)
        for i, t in enumerate(order):
            name = names.get(id(t)) or t.name
            if t.op is None and t.requires_grad and name and "." in name:
                path = name.rsplit(".", 1)[0]
                found = calls_of.get(path, [])
                if len(found) == 1:
                    self.chains[i] = found[0]
                elif found:  # a module called several times: its parameters make one box
                    key = f"p:{path}"
                    self.groups.setdefault(key, {"path": path, "label": f"{path} parameters", "parent": None, "size": 0})
                    self.chains[i] = [key]
        for chain in self.chains:
            for key in chain:
                self.groups[key]["size"] += 1

    def _chain(self, call: Any) -> list[str]:
        calls = []
        while call is not None and call.outer is not None:
            calls.append(call)
            call = call.outer
        out: list[str] = []
        for c in reversed(calls):
            if id(c) not in self._keys:
                self._keys[id(c)] = key = f"g{len(self._keys)}"
                self.groups[key] = {"path": c.path, "label": f"{c.path} ({type(c.module).__name__})" if c.module is not None else c.path,
                                    "parent": out[-1] if out else None, "size": 0}
            out.append(self._keys[id(c)])
        return out
