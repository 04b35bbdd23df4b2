#!/usr/bin/env python3
"""Import circles between the modules of `src/`, from every `use`, every `crate::`/`super::` path, and
every path through a child module (`timeline::TimelineService` in `service/mod.rs`).

A module is a file (`src/service/events.rs` is `service::events`; a `mod.rs` is its folder). A circle
is a set of modules that reach each other through paths; one whose modules belong to different
concepts is reported as a problem, and the script exits 1. A concept is a folder or file directly
under a layered folder (`service::bookings`, `domain::slots`, `graphql::cost`...; the layer's own
`mod.rs` is one too) and otherwise a top-level module (`jobs`, `pubsub`, `auth`...).

    python3 scripts/import-cycles.py [src]
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"
files = {}
for dirpath, _, names in os.walk(root):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(dirpath, name)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                continue
            files["::".join(parts)] = path
modules = set(files)


def resolve(path):
    """The longest prefix of `path` that is a module (the module an item path points into)."""
    parts = path.split("::")
    for i in range(len(parts), 0, -1):
        candidate = "::".join(parts[:i])
        if candidate in modules:
            return candidate
    return None


def strip(source):
    """The code without tests, comments and string literals."""
    source = re.split(r"#\[cfg\(test\)\]\s*mod tests", source)[0]
    source = re.sub(r"//[^\n]*", "", source)
    source = re.sub(r'"(\\.|[^"\\])*"', '""', source)
    return source


def expand(prefix, rest):
    """`a::{b, c::{d}}` as `a::b`, `a::c::d`."""
    rest = rest.strip()
    if rest.startswith("{"):
        inner, depth, current, out = rest[1:-1], 0, "", []
        for ch in inner:
            depth += ch == "{"
            depth -= ch == "}"
            if ch == "," and depth == 0:
                out.append(current)
                current = ""
            else:
                current += ch
        if current.strip():
            out.append(current)
        return [p for o in out for p in expand(prefix, o)]
    if "::{" in rest:
        head, tail = rest.split("::{", 1)
        return expand(f"{prefix}::{head}" if prefix else head, "{" + tail)
    rest = re.split(r"\s+as\s+", rest)[0]
    return [f"{prefix}::{rest}" if prefix else rest]


def target_of(module, path):
    segments = path.split("::")
    if segments[0] == "crate":
        return resolve("::".join(segments[1:]))
    if segments[0] in ("super", "self"):
        current = module.split("::")
        while segments and segments[0] in ("super", "self"):
            if segments[0] == "super":
                current = current[:-1]
            segments = segments[1:]
        return resolve("::".join(current + segments))
    return None


edges = {m: set() for m in modules}
for module, path in files.items():
    code = strip(open(path).read())
    paths = []
    for use in re.findall(r"\buse\s+([^;]+);", code, re.S):
        paths += expand("", re.sub(r"\s+", " ", use))
    paths += re.findall(r"\b(?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+", code)
    for p in paths:
        p = p.replace(" ", "")
        target = target_of(module, p)
        if target and target != module:
            edges[module].add(target)
    # Paths through the module's own children: `child::Item`.
    for child in re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;", code, re.M):
        if re.search(rf"(?<![A-Za-z0-9_:]){child}::", code):
            target = resolve(f"{module}::{child}" if module else child)
            if target:
                edges[module].add(target)

index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        if len(component) > 1:
            cycles.append(sorted(component))


for v in sorted(edges):
    if v not in index:
        visit(v)


LAYERS = {"service", "domain", "integrations", "graphql", "http"}


def concept(module):
    parts = module.split("::")
    return "::".join(parts[:2]) if parts[0] in LAYERS else parts[0]


bad = [c for c in cycles if len({concept(m) for m in c}) > 1]
for c in cycles:
    kind = "ACROSS CONCEPTS" if c in bad else "within one concept"
    print(f"{kind}: {' <-> '.join(c)}")
print(f"{len(modules)} modules, {len(cycles)} circles, {len(bad)} across concepts")
sys.exit(1 if bad else 0)
