"""forescale.prescaler: forecasters (registered by name), the backtest and the prescaler service.

Importing the package registers the built-in forecasters, so ``base.get_forecaster`` knows
them whichever module is imported first. Heavy libraries (sklearn) load only when fitting.
"""

from forescale.prescaler import forecasters as forecasters  # registers the built-ins
from forescale.prescaler import gbq as gbq  # registers "gbq" (sklearn loads on first fit)
