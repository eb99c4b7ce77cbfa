"""What ``forescale simulate`` forecasts with unless told otherwise (kept light: the CLI
reads it when it registers its flags).

The simulation describes what ships: the prescaler service's forecaster
(``PrescalerSettings.forecaster``, ``gbq``; a test keeps the two equal). It refits daily
here, not hourly as the service does: a gbq fit costs ~2 s and a 23-day replay would spend
18 min on hourly fits (fair-evaluation.md, "fourth pass"). Its forecasts are made once per
trace and shared by every run and sweep point (forecast_cache.py).
"""

from __future__ import annotations

SHIPPED_FORECASTER = "gbq"
DEFAULT_REFIT_S = 86400.0
