"""``python -m forescale.router ...`` = ``forescale router ...`` (see cliutil.run_area)."""

import sys

from forescale.cliutil import run_area
from forescale.router.cli import register

if __name__ == "__main__":
    sys.exit(run_area(register, "router"))
