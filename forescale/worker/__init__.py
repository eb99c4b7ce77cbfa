"""forescale.worker."""
