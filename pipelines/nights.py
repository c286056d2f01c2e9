"""The nights Dagster knows: one partition per drop date that has been launched, not one per calendar day.

Drops come monthly for most sources: daily partitions from a fixed first date made every asset in the UI
show thousands of "missing" days for a handful of real nights. The `nights` partitions are dynamic: a
night's key (its drop date, `YYYY-MM-DD`) is added to the Dagster instance by whatever launches it first:
the drop sensor (in its `SensorResult`), the nightly schedule, `ibr run` and `ibr demo`. So the UI lists
the nights there are, and a backfill in the UI (or `ibr run --since D`) runs over those keys.

A home whose nights ran under the daily partitions of earlier versions gets their keys back: the first
`ibr run` adds the key of every night the warehouse was published for (`adopt_published_nights`), so the
UI lists those nights with their history.

A key added stays until someone deletes it (`instance.delete_dynamic_partition("nights", key)`); a key
without a drop folder any more (pruned, or added by hand) just runs a night with nothing new to land.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import dagster as dg

NIGHTS_NAME = "nights"
NIGHTS = dg.DynamicPartitionsDefinition(name=NIGHTS_NAME)


def night_keys(nights: Iterable[date | str]) -> list[str]:
    """Partition keys of the nights, sorted, each once: `date(2026, 2, 1)` -> `"2026-02-01"`."""
    return sorted({n if isinstance(n, str) else n.isoformat() for n in nights})


def add_nights(instance: dg.DagsterInstance, nights: Iterable[date | str]) -> list[str]:
    """Add the nights' keys to the instance's `nights` partitions; the keys that were new."""
    known = set(instance.get_dynamic_partitions(NIGHTS_NAME))
    new = [key for key in night_keys(nights) if key not in known]
    if new:
        instance.add_dynamic_partitions(NIGHTS_NAME, new)
    return new


# the nightly job's last asset: a night that published it ran, whatever partitions it ran under
PUBLISHED = dg.AssetKey(["warehouse", "ibr"])


def adopt_published_nights(instance: dg.DagsterInstance) -> list[str]:
    """Add the key of every night the warehouse was published for (nights of earlier versions ran under daily
    partitions, and a dynamic key is what makes the UI show them); the keys that were new."""
    return add_nights(instance, instance.get_materialized_partitions(PUBLISHED))
