"""Prescaler metrics, in a registry per app (served on ``GET /metrics``).

Small on purpose: is the loop publishing (per model, with or without learned history),
how long fitting takes, how much history it had (requests, and tokens where a token
history exists), and how the webhook answers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Fitting gbq on 28 days at 60 s takes seconds; seasonal naive, milliseconds.
TRAINING_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class PrescalerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.training = Histogram(
            "forescale_prescaler_training_seconds",
            "Wall time of one forecaster fit.",
            ["model"],
            buckets=TRAINING_BUCKETS,
            registry=r,
        )
        self.publish = Counter(
            "forescale_prescaler_publish_total",
            "Forecasts published to fs:forecast:{model}, by outcome.",
            ["model", "outcome"],
            registry=r,
        )
        self.last_publish = Gauge(
            "forescale_prescaler_last_publish_timestamp_seconds",
            "Unix time of the last forecast published (its issue time).",
            ["model"],
            registry=r,
        )
        self.history_known = Gauge(
            "forescale_prescaler_history_known_ratio",
            "Share of the training history's steps with a known rate (0-1).",
            ["model"],
            registry=r,
        )
        self.token_history_known = Gauge(
            "forescale_prescaler_token_history_known_ratio",
            "Share of the token throughput history's steps with a known value (0-1).",
            ["model"],
            registry=r,
        )
        self.cycle_errors = Counter(
            "forescale_prescaler_cycle_errors_total", "Publishing cycles that failed (logged).", registry=r
        )
        self.webhook = Counter(
            "forescale_prescaler_webhook_requests_total",
            "POST /v1/forecasts answers by HTTP status code.",
            ["code"],
            registry=r,
        )


def outcome(had_history: bool, learned: bool) -> str:
    """publish_total's ``outcome``: ``learned`` (a fitted forecast was published),
    ``no_forecast`` (history, but the forecaster could not say), ``no_history`` (history
    unavailable); in the last two only external forecasts, if any, went out."""
    if learned:
        return "learned"
    return "no_forecast" if had_history else "no_history"
