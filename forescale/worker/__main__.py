"""``python -m forescale.worker ...`` = ``forescale worker ...`` (see cliutil.run_area)."""

import sys

from forescale.cliutil import run_area
from forescale.worker.cli import register

if __name__ == "__main__":
    sys.exit(run_area(register, "worker"))
