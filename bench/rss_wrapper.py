"""Runs a command and writes its peak RSS like GNU time -v (for machines without /usr/bin/time).

    python -m bench.rss_wrapper OUT_FILE command args...

`getrusage(RUSAGE_CHILDREN).ru_maxrss` of this fresh process is the largest peak RSS among the
command and its waited-for descendants: the figure GNU time reports.
"""

import resource
import subprocess
import sys


def main() -> int:
    out, command = sys.argv[1], sys.argv[2:]
    code = subprocess.call(command)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    with open(out, "w") as f:
        f.write(f"\tMaximum resident set size (kbytes): {peak_kb}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
