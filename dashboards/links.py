"""Drill-down between the dashboards: fleet -> station -> zone, and back.

Data links (a panel's ``fieldConfig.defaults.links``) carry the clicked series' tag through
``${__field.labels.<tag>}`` or a table row's column through ``${__data.fields.<column>}``, and
the time range through ``${__url_time_range}`` (Grafana's DataLinkBuiltInVars.keepTime,
packages/grafana-data/src/utils/dataLinks.ts). Dashboard links (top bar) use ``keepTime``.
The uids are fixed (build.py), so these URLs never change; the slug after the uid is cosmetic.
"""

from __future__ import annotations

from dashboards.model import Link

__all__ = ["FLEET_URL", "STATION_URL", "ZONE_URL", "station_link", "zone_link"]

FLEET_URL = "/d/heatwatch-fleet/fleet-overview"
STATION_URL = "/d/heatwatch-station/station-detail"
ZONE_URL = "/d/heatwatch-zone/zone-and-flats"
_TIME = "${__url_time_range}"


def zone_link(title: str, zone: str) -> Link:
    """A data link to a zone's flats; ``zone`` is a data-link variable."""
    return Link(title, f"{ZONE_URL}?var-zone={zone}&{_TIME}")


def station_link(title: str, zone: str, station: str) -> Link:
    """A data link to one station (its zone too: the station variable is filtered by zone)."""
    return Link(title, f"{STATION_URL}?var-zone={zone}&var-station={station}&{_TIME}")
