#!/usr/bin/env python3
"""Where a worker's memory goes: sums Pss, Rss and private pages by mapping over the smaps files
that `venus-bench --smaps DIR` saved, one column per file group (a target, or any glob).

    venus_bench_smaps.py DIR/ours-idle-r1-* DIR/virgl-1.3.0-idle-r1-*

Each argument is a glob; the files one argument matches (a worker and, with a jail, its reaper
or spares) are summed into one column. Rows are mappings named by file (a library, the binary) or
by kind ([heap], [stack], thread stacks, other anonymous memory), largest difference first."""
import glob
import re
import sys
from collections import defaultdict

HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$")


def mapping_kind(perms, name):
    if name:
        return name.rsplit("/", 1)[-1] if name.startswith("/") else name
    # Anonymous: a guard page below each thread stack has no access; stacks are rw-p.
    return "[anonymous " + perms + "]"


def read(paths):
    totals = defaultdict(lambda: [0, 0, 0])  # Pss, Rss, Private (KiB)
    for path in paths:
        current = None
        with open(path) as f:
            for line in f:
                m = HEADER.match(line)
                if m:
                    current = mapping_kind(m.group(1), m.group(2).strip())
                    continue
                if current is None:
                    continue
                key, _, rest = line.partition(":")
                fields = rest.split()
                if not fields or not fields[0].isdigit():
                    continue
                value = int(fields[0])
                if key == "Pss":
                    totals[current][0] += value
                elif key == "Rss":
                    totals[current][1] += value
                elif key in ("Private_Clean", "Private_Dirty"):
                    totals[current][2] += value
    return totals


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    columns = []
    for pattern in sys.argv[1:]:
        paths = sorted(glob.glob(pattern))
        if not paths:
            print(f"no file matches {pattern}", file=sys.stderr)
            return 2
        columns.append((pattern.rsplit("/", 1)[-1], read(paths), len(paths)))
    names = set()
    for _, totals, _ in columns:
        names.update(totals)
    spread = lambda n: max(c[1][n][0] for c in columns) - min(c[1][n][0] for c in columns)
    rows = sorted(names, key=lambda n: (-spread(n), -max(c[1][n][0] for c in columns)))
    print(f"{'mapping (Pss KiB; private KiB in brackets)':44s}" +
          "".join(f"{label[:24]:>26s}" for label, _, _ in columns))
    for name in rows:
        if max(c[1][name][0] for c in columns) < 64:
            continue
        print(f"{name[:44]:44s}" +
              "".join(f"{t[name][0]:>16d} [{t[name][2]:>6d}] " for _, t, _ in columns))
    print(f"{'total (' + ', '.join(str(n) for _, _, n in columns) + ' files)':44s}" +
          "".join(f"{sum(v[0] for v in t.values()):>16d} [{sum(v[2] for v in t.values()):>6d}] "
                  for _, t, _ in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
