"""forescale.controller."""
