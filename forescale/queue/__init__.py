"""forescale.queue."""
