"""forescale.prescaler."""
