"""What one tick knows about each pool: observation folded into the state the planner needs.

Per pool this tracks, in ``PolicyState``:

- the last insufficient-capacity error (remembered even if the observation stops
  reporting it), so the pool launches nothing for ``unavailable_pool_ttl_s`` after it.
  Notices to more than half of a spot pool's nodes in one tick count as one (Karpenter's
  interruption controller marks the offering unavailable on a notice): the provider is
  taking that pool's capacity back, so the replacements go to the next pool in the same
  tick instead of failing there first and moving a tick later. A few notices in a big
  pool, or the one node of a one-node pool, are routine churn (the replacement may well
  land in the same pool), so they do not;
- since when nodes have been starting without progress (a node becoming ready resets
  it), so spot that is not ready within ``spot_fallback_timeout_s`` is covered on-demand;
- the interruption rate per node-second, exponentially weighted over about an hour;
- the learned lead time (``leadtime.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from forescale.core import leadtime
from forescale.core.catalog import Catalog
from forescale.core.model import Observation, PolicySpec, PolicyState, PoolObservation, PoolSpec
from forescale.core.pooltable import Layout, PoolTable, layout, rank

# Time constant of the interruption-rate average: long enough that one notice does not
# double the spot buffer, short enough that a stormy hour shows within minutes.
INTERRUPTION_TAU_S = 3600.0
# Below this the rate is treated as zero, so the state does not keep vanishing numbers.
RATE_FLOOR = 1e-9


@dataclass(frozen=True, slots=True, init=False)  # native when compiled, as PanicStep (panic.py)
class PoolView:
    table: PoolTable
    lead_s: float  # the slowest usable pool's lead time: the forecast horizon (0: no pool)
    lead_samples: dict[str, tuple[float, ...]]
    lead_time_s: dict[str, float]
    interruption_rate: dict[str, float]
    starting_since: dict[str, float]
    unavailable_at: dict[str, float]
    notes: list[str]

    def __init__(
        self, table: PoolTable, lead_s: float, lead_samples: dict[str, tuple[float, ...]],
        lead_time_s: dict[str, float], interruption_rate: dict[str, float],
        starting_since: dict[str, float], unavailable_at: dict[str, float], notes: list[str],
    ) -> None:  # fmt: skip
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "lead_s", lead_s)
        object.__setattr__(self, "lead_samples", lead_samples)
        object.__setattr__(self, "lead_time_s", lead_time_s)
        object.__setattr__(self, "interruption_rate", interruption_rate)
        object.__setattr__(self, "starting_since", starting_since)
        object.__setattr__(self, "unavailable_at", unavailable_at)
        object.__setattr__(self, "notes", notes)


def allowed(spec: PolicySpec, pools: Sequence[PoolSpec]) -> list[PoolSpec]:
    """The pools the policy may use (all when it names none)."""
    if not spec.pools:
        return list(pools)
    names = set(spec.pools)
    return [p for p in pools if p.name in names]


def usable(spec: PolicySpec, pools: Sequence[PoolSpec]) -> tuple[Layout, list[str]]:
    """Allowed pools that fit a replica, in planner order, and notes on those that do not.

    Given the tick's ``Catalog``, worked out once per (pools, GPUs per replica) per tick."""
    if isinstance(pools, Catalog):
        key = (spec.pools, spec.gpus_per_replica)
        hit = pools.layouts.get(key)
        if hit is None:
            hit = pools.layouts[key] = _usable(spec, pools)
        return hit
    return _usable(spec, pools)


def _usable(spec: PolicySpec, pools: Sequence[PoolSpec]) -> tuple[Layout, list[str]]:
    fit: list[tuple[PoolSpec, int]] = []
    notes: list[str] = []
    for p in allowed(spec, pools):
        per_node = p.gpus_per_node // spec.gpus_per_replica
        if per_node:
            fit.append((p, per_node))
        else:
            notes.append(
                f"skip: {p.name} has {p.gpus_per_node} GPUs per node, a replica needs {spec.gpus_per_replica}"
            )
    fit.sort(key=lambda pair: rank(*pair))
    return layout(fit), notes


def view(obs: Observation, spec: PolicySpec, pools: Sequence[PoolSpec], state: PolicyState) -> PoolView:
    """Fold ``obs.pools`` into the per-pool state and tabulate the usable pools.

    Only what is there is visited: the observed pools once, then the (few) pools the
    state has entries for; a pool with nothing going on costs one test. This runs for
    every model every tick, so it is one function with few allocations.
    """
    lay, skipped = usable(spec, pools)
    index = lay.index
    n = len(lay.specs)
    now = obs.now
    ready, starting, slow = [0] * n, [0] * n, [False] * n
    occupied: list[int] = []
    since = dict(state.starting_since)
    unavailable = dict(state.unavailable_at)
    lead_times: dict[str, tuple[float, ...]] = {}
    interrupted: dict[str, PoolObservation] = {}
    # Most pools have nothing going on: one tight pass finds the few that do. (Plain
    # attribute tests: specialised slot reads beat operator.attrgetter + itertools.compress
    # in C by ~3x here, though the latter runs fewer bytecodes.)
    busy = [
        po
        for po in obs.pools
        if po.ready_nodes
        or po.starting_nodes
        or po.lead_times_s
        or po.interruptions
        or po.insufficient_capacity_at is not None
    ]
    for po in busy:
        i = index.get(po.name)
        if i is None:
            continue
        r, s = po.ready_nodes, po.starting_nodes
        if r or s:
            ready[i] = r
            occupied.append(i)
            if s:
                starting[i] = s
                slow[i] = _slow(lay.specs[i], po, since, now, spec.spot_fallback_timeout_s)
        if po.lead_times_s:
            lead_times[po.name] = po.lead_times_s
        if po.interruptions:
            interrupted[po.name] = po
        at = po.insufficient_capacity_at
        if po.interruptions > 1 and 2 * po.interruptions > r + po.draining_nodes and lay.types[i] == "spot":
            at = now  # most of a spot pool reclaimed at once: it is out of capacity (module doc)
        if at is not None:
            unavailable[po.name] = max(unavailable.get(po.name, at), at)
    if since:
        for name in [k for k in since if k not in index or not starting[index[k]]]:
            del since[name]  # nothing starting there any more
    occupied.sort()
    if lead_times:
        samples, leads = leadtime.learn(state.lead_samples, state.lead_time_s, lead_times)
    else:
        samples, leads = dict(state.lead_samples), dict(state.lead_time_s)
    rates = _rates(state, interrupted, now)
    notes = list(skipped)
    bad = [False] * n
    if unavailable:
        skipped_now = []
        ttl = spec.unavailable_pool_ttl_s
        for name, at in list(unavailable.items()):
            if now - at >= ttl:
                del unavailable[name]  # the TTL is over: try the pool again
            elif name in index:
                bad[index[name]] = True
                skipped_now.append(f"{name} {now - at:.0f} s ago")
        if skipped_now:
            notes.append(f"unavailable for {ttl:g} s after insufficient capacity: " + ", ".join(skipped_now))
    lead: Sequence[float] = lay.lead_prior
    horizon = lay.lead_max
    if leads:
        learned = list(lead)
        for name, value in leads.items():
            if name in index:
                learned[index[name]] = value
        lead, horizon = learned, max(learned, default=0.0)
    rate: Sequence[float] = lay.no_rates
    if rates:
        rate = [0.0] * n
        for name, value in rates.items():
            if name in index:
                rate[index[name]] = value
    table = PoolTable(lay, ready, starting, bad, slow, lead, rate, occupied)
    return PoolView(table, horizon, samples, leads, rates, since, unavailable, notes)


def _rates(state: PolicyState, interrupted: dict[str, PoolObservation], now: float) -> dict[str, float]:
    """Move each pool's interruption rate towards this tick's interruptions per node-second."""
    rates = dict(state.interruption_rate)
    if not rates and not interrupted:  # the usual case: no pool was ever interrupted
        return rates
    dt = now - state.last_at if state.last_at is not None else 0.0
    if dt <= 0:
        return rates
    decay = 1.0 - math.exp(-dt / INTERRUPTION_TAU_S)
    for name in set(rates) | set(interrupted):
        po = interrupted.get(name)
        sample = po.interruptions / (max(1, po.ready_nodes + po.draining_nodes) * dt) if po else 0.0
        rate = rates.get(name, 0.0)
        rate += decay * (sample - rate)
        if rate < RATE_FLOOR:
            rates.pop(name, None)
        else:
            rates[name] = rate
    return rates


def _slow(p: PoolSpec, po: PoolObservation, since: dict[str, float], now: float, timeout: float) -> bool:
    """Track since when ``p`` has had nodes starting; whether spot there is past the timeout."""
    name = p.name
    if po.lead_times_s or name not in since:
        since[name] = now  # progress (a node became ready) restarts the clock
        return False
    return p.capacity_type == "spot" and now - since[name] >= timeout
