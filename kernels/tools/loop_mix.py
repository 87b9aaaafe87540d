#!/usr/bin/env python3
"""Instruction mix of the innermost loops of a function, from an aarch64 (or x86_64)
`objdump -d --no-show-raw-insn` listing: the numbers quoted in the kernels' module docs.

    cargo build --release -p zeropoint-kernels --target aarch64-unknown-linux-gnu
    mkdir -p /tmp/zp-dis && cd /tmp/zp-dis && rm -f *.o
    ar x $REPO/target/aarch64-unknown-linux-gnu/release/libzeropoint_kernels.rlib
    aarch64-linux-gnu-objdump -d --no-show-raw-insn *.o > all.s
    python3 $REPO/kernels/tools/loop_mix.py all.s 'dotprod4gemm4tile' sdot

A loop is a backward branch; only innermost loops that contain at least one of the
given multiply mnemonics are listed (one per monomorphised tile height and A type).
Columns: multiply instructions, loads/stores, scalar (address/counter) arithmetic,
branches, and every other mnemonic by name.
"""
import collections
import re
import sys

SCALAR = {"add", "sub", "subs", "adds", "cmp", "cmn", "mov", "madd", "lsl", "orr", "csel", "neg"}
NOT_BRANCH = {"bic", "bif", "bit", "bsl", "bfi", "bfxil", "bl", "blr"}


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    text = open(sys.argv[1]).read().splitlines()
    pattern, mul = sys.argv[2], set(sys.argv[3].split(","))
    funcs, cur = {}, None
    for line in text:
        m = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
        if m:
            cur = m.group(2)
            funcs[cur] = []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m and cur:
            funcs[cur].append((int(m.group(1), 16), m.group(2), m.group(3)))
    for name, ins in funcs.items():
        if not re.search(pattern, name):
            continue
        index = {a: i for i, (a, _, _) in enumerate(ins)}
        loops = []
        for i, (a, op, args) in enumerate(ins):
            if op.startswith("b") and op not in NOT_BRANCH:
                t = re.search(r"\b([0-9a-f]+) <", args)
                if t and int(t.group(1), 16) <= a and int(t.group(1), 16) in index:
                    loops.append((index[int(t.group(1), 16)], i))
        inner = [l for l in loops if not any(o != l and o[0] >= l[0] and o[1] <= l[1] for o in loops)]
        print(f"== {name}: {len(ins)} instructions")
        for s0, s1 in inner:
            body = ins[s0 : s1 + 1]
            c = collections.Counter()
            for _, op, args in body:
                first = args.split(",")[0]
                if op in mul:
                    c["mul"] += 1
                elif op.startswith(("ld", "st")):
                    c["load/store"] += 1
                elif op in SCALAR and not first.strip().startswith("v"):
                    c["scalar"] += 1
                elif op.startswith("b") and op not in NOT_BRANCH:
                    c["branch"] += 1
                else:
                    c[op] += 1
            if c["mul"] == 0:
                continue
            n = len(body)
            rest = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k != "mul")
            print(f"  loop {ins[s0][0]:#x}..{ins[s1][0]:#x}: {n} instructions, "
                  f"mul {c['mul']} ({100 * c['mul'] / n:.0f}%), {rest}")


if __name__ == "__main__":
    main()
