"""Standard Webhooks verification with an injected clock, and the external-forecast store.

The ``standardwebhooks`` package computes the signature (``Webhook.sign``); its ``verify``
reads the wall clock with a fixed 5-minute tolerance, so the time check is done here
against the service's ``Clock`` and the configured tolerance instead.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

import redis.asyncio as aioredis
from standardwebhooks import Webhook

from forescale import keys
from forescale.prescaler.external import ExternalForecast

EXTERNAL_KEY = keys.PRESCALER_EXTERNAL


seen_key = keys.webhook_seen


class SignatureError(Exception):
    """Missing headers, bad signature, timestamp out of tolerance, or a replayed id (401)."""


def sign(secret: str, msg_id: str, timestamp: float, body: bytes) -> str:
    """The ``webhook-signature`` header value a sender would send (used by tests and clients)."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(int(timestamp), tz=UTC), body.decode())


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float) -> str:
    """The verified ``webhook-id``; ``SignatureError`` otherwise. Does not check replay."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    # At most 12 digits: a 400-digit stamp would overflow the float arithmetic below (a 500).
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureError("webhook-timestamp is not integer epoch seconds")
    ts = int(stamp)
    if abs(now - ts) > tolerance_s:
        raise SignatureError(f"webhook-timestamp is {now - ts:+.0f}s off (tolerance {tolerance_s:g}s)")
    try:
        expected = base64.b64decode(sign(secret, msg_id, ts, body).split(",", 1)[1])
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    for item in signatures.split():
        version, _, value = item.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(expected, given):
            return msg_id
    raise SignatureError("no matching v1 signature")


async def claim(client: aioredis.Redis, msg_id: str, tolerance_s: float) -> bool:
    """Record ``msg_id`` as used; False when it was seen already (a replay). The record
    outlives the timestamp tolerance, after which the timestamp check rejects it anyway."""
    return bool(await client.set(seen_key(msg_id), "1", nx=True, ex=int(2 * tolerance_s) + 1))


async def load_all(client: aioredis.Redis) -> list[ExternalForecast]:
    raw = await client.hgetall(EXTERNAL_KEY)  # type: ignore[misc]
    return sorted(
        (ExternalForecast.model_validate_json(v) for v in raw.values()), key=lambda e: (e.model, e.id)
    )


async def store(client: aioredis.Redis, ext: ExternalForecast) -> None:
    await client.hset(EXTERNAL_KEY, ext.id, ext.model_dump_json())  # type: ignore[misc]


async def delete(client: aioredis.Redis, forecast_id: str) -> bool:
    return bool(await client.hdel(EXTERNAL_KEY, forecast_id))  # type: ignore[misc]


async def prune(client: aioredis.Redis, now: float) -> list[ExternalForecast]:
    """Active forecasts; ones whose windows have all ended are deleted."""
    active = []
    for ext in await load_all(client):
        if ext.active(now):
            active.append(ext)
        else:
            await delete(client, ext.id)
    return active
