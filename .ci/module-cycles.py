#!/usr/bin/env python3
"""Finds circles between the files of a Rust crate.

Usage: module-cycles.py CRATE_SRC_DIR [...]

Each file is a module (`lib.rs`/`main.rs` the root, `a/mod.rs` or `a.rs` module `a`). A file
depends on another when it names it: `use crate::a::b`, a path `crate::a::x`, `super::..`, or
an item the root or a `mod.rs` re-exports (resolved to the file that defines it). Declaring a
module (`mod a;`) is not a dependency. Prints every strongly connected set of two or more files
and exits 1 if there is one.
"""

import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def expand(tree):
    """Expands a use tree (`a::{b, c::{d as e}}`) into paths."""
    tree = tree.strip()
    out = []
    m = re.match(r"^([\w:]*?)(?:::)?\{(.*)\}$", tree, flags=re.S)
    if m:
        prefix, inner = m.group(1), m.group(2)
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(inner):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(inner[start:i])
                start = i + 1
        parts.append(inner[start:])
        for p in parts:
            if p.strip():
                for sub in expand(p):
                    out.append(f"{prefix}::{sub}" if prefix else sub)
        return out
    tree = re.sub(r"\s+as\s+\w+$", "", tree)
    return [tree.replace(" ", "")]


def inline_modules(text):
    """Byte ranges of inline `mod name { .. }` blocks."""
    out = []
    for m in re.finditer(r"\bmod\s+\w+\s*\{", text):
        depth, i = 0, m.end() - 1
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        out.append((m.end(), i))
    return out


def main():
    status = 0
    for src in sys.argv[1:]:
        files = {}
        for root, _, names in os.walk(src):
            for n in names:
                if n.endswith(".rs"):
                    p = os.path.join(root, n)
                    files[module_of(src, p)] = strip(open(p).read())
        # Re-exports: module -> {name: defining module}.
        reexports = {m: {} for m in files}
        for m, text in files.items():
            for tree in re.findall(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
                for path in expand(tree):
                    segs = [s for s in path.split("::") if s]
                    if not segs or segs[0] in ("std", "core", "alloc"):
                        continue
                    if segs[0] == "crate":
                        target = tuple(segs[1:-1])
                    elif segs[0] in ("self",):
                        target = m + tuple(segs[1:-1])
                    elif segs[0] == "super":
                        target = m[:-1] + tuple(segs[1:-1])
                    else:
                        target = m + tuple(segs[:-1])
                    reexports[m][segs[-1]] = target

        def resolve(segs, seen=0):
            """The file a path (from the root) lands in."""
            mod = ()
            for s in segs:
                if mod + (s,) in files:
                    mod = mod + (s,)
                    continue
                if s in reexports.get(mod, {}) and seen < 8:
                    target = reexports[mod][s]
                    rest = segs[segs.index(s) + 1 :]
                    return resolve(list(target) + [s] + rest, seen + 1)
                break
            return mod

        edges = {m: set() for m in files}
        for m, text in files.items():
            inline = inline_modules(text)
            paths = []
            for match in re.finditer(r"\buse\s+([^;]+);", text):
                paths += [(p, match.start()) for p in expand(match.group(1))]
            for match in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
                paths.append((match.group(1), match.start()))
            for path, at in paths:
                segs = [s for s in path.split("::") if s]
                if not segs:
                    continue
                # Inside `mod x { .. }`, `super` first climbs out of the inline modules.
                depth = sum(1 for a, b in inline if a < at < b)
                if segs[0] == "crate":
                    full = segs[1:]
                elif segs[0] == "super":
                    base = list(m)
                    while segs and segs[0] == "super":
                        if depth > 0:
                            depth -= 1
                        else:
                            base = base[:-1]
                        segs = segs[1:]
                    full = base + segs
                elif segs[0] == "self":
                    full = list(m) + segs[1:]
                else:
                    continue
                target = resolve(full)
                if target != m and target in files:
                    edges[m].add(target)

        # Tarjan's strongly connected components.
        index, low, stack, on, sccs = {}, {}, [], set(), []
        counter = [0]

        def visit(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in edges[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    sccs.append(comp)

        sys.setrecursionlimit(10000)
        for v in sorted(files):
            if v not in index:
                visit(v)
        name = lambda m: "::".join(m) or "(root)"
        if sccs:
            status = 1
            for comp in sccs:
                print(f"{src}: files in a circle: " + ", ".join(sorted(name(c) for c in comp)))
                for a in sorted(comp):
                    for b in sorted(edges[a]):
                        if b in comp:
                            print(f"    {name(a)} -> {name(b)}")
        else:
            print(f"{src}: {len(files)} files, no circle")
    return status


if __name__ == "__main__":
    sys.exit(main())
