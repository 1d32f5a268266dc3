"""Entry point: the method x dataset x seed matrix, Table 4 from cached results, --describe-methods, --doctor."""

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
