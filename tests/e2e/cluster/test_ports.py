"""deploy/cluster.sh's port picking: every port of one deployment distinct, none in use.

A deployment's ports are picked at its first `up`, at random below the ephemeral range. They were
picked in subshells ($(pick_port)), which forgot the ports already taken: one drill run in a few
hundred got kluisd-2 on pg-1's port, and `up` failed. This runs the script's own pick_port (cut
out of cluster.sh, nothing else of it) for far more ports than a deployment has, so that a
forgotten port would come back many times over.

    cd tests/e2e/cluster && /usr/bin/python3 -m unittest -v test_ports
"""

import os
import re
import socket
import subprocess
import unittest

CLUSTER_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                          "deploy", "cluster.sh")
PICKS = 1000  # the old way gave about 40 ports twice in this many


def functions(text, *names):
    """The definitions of the named top-level shell functions (name() { ... }) in text."""
    out = []
    for name in names:
        m = re.search(rf"^{name}\(\) {{\n.*?^}}\n", text, re.S | re.M)
        if m is None:
            raise AssertionError(f"cluster.sh has no function {name}")
        out.append(m.group(0))
    return "".join(out)


class PortsTest(unittest.TestCase):
    def test_picked_ports_are_distinct_and_free(self):
        with open(CLUSTER_SH) as f:
            text = f.read()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        script = ("set -euo pipefail\ndie() { echo \"$*\" >&2; exit 1; }\n"
                  "declare -A taken_ports=()\n" + functions(text, "listening_ports", "pick_port") +
                  f"for ((i = 0; i < {PICKS}; i++)); do pick_port p; echo \"$p\"; done\n")
        try:
            p = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            in_use = listener.getsockname()[1]
            listener.close()
        self.assertEqual(p.returncode, 0, p.stderr)
        ports = [int(x) for x in p.stdout.split()]
        self.assertEqual(len(ports), PICKS)
        self.assertEqual(len(set(ports)), PICKS, "a port was given twice")
        self.assertNotIn(in_use, ports)


if __name__ == "__main__":
    unittest.main(verbosity=2)
