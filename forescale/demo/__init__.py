"""forescale.demo: the `forescale demo` command (interim: the serving path alone)."""
