"""forescale.sim."""
