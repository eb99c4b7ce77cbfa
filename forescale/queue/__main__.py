"""``python -m forescale.queue ...`` = ``forescale models ...`` (see cliutil.run_area)."""

import sys

from forescale.cliutil import run_area
from forescale.queue.cli import register

if __name__ == "__main__":
    sys.exit(run_area(register, "models"))
