"""forescale.router."""
