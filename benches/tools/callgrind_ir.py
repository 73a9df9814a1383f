#!/usr/bin/env python3
"""Instructions per call of one function from a callgrind profile collected with
`--toggle-collect=<function>`: collected Ir divided by the calls of <function>.

    python3 benches/tools/callgrind_ir.py callgrind.out 'baton_benches::workload::KernelGrid::cycle'
"""
import re
import sys


def main():
    path, target = sys.argv[1], sys.argv[2]
    names = {}

    def name(s):
        m = re.match(r"\((\d+)\)(?: (.*))?", s)
        if not m:
            return s
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), s)

    calls, cfn, total = 0, None, None
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("fn="):
            name(line[3:])
        elif line.startswith("cfn="):
            cfn = name(line[4:])
        elif line.startswith("calls=") and cfn == target:
            calls += int(line.split("=")[1].split()[0])
        elif line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
    if not calls or total is None:
        sys.exit(f"no calls of {target} in {path}")
    print(f"{total / calls:.0f} Ir per call ({total} Ir over {calls} calls)")


if __name__ == "__main__":
    main()
