"""The collector (``heatwatch collect``): MQTT telemetry into InfluxDB, never losing a reading.

Modules, one concern each: ``config`` (settings), ``spool`` (on-disk FIFO), ``deadletter``
(rejected readings), ``fieldtypes`` (field type conflicts), ``seqtrack`` (gaps and duplicates),
``metrics`` and ``summary`` (observability), ``service`` (the worker that ties them together),
``cli``. The MQTT session (persistent, thin callbacks, acks only when told) is
``heatwatch.mqtt_source``, shared with the alert engine; InfluxDB itself (transports,
credentials, error classes) is :mod:`heatwatch.influx`.
"""
