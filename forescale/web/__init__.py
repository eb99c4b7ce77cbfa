"""What the three HTTP services share: one error type and middleware (``problem``), bearer
tokens with scopes (``tokens``), strict JSON and connection limits (``limits``)."""
