"""heatwatch: shared core (wire format, station registry, settings, local servers, CLI).

Every service package (collector, alerts, simulators, api, dashboards) imports from here and
nothing here imports from them, so there are no import cycles.
"""

__version__ = "0.1.0"
