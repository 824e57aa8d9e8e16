"""The local stack: everything that runs heatwatch on one machine without a deployment.

``heatwatch run`` (:mod:`heatwatch.local.run`), Mosquitto and InfluxDB on loopback under a run
directory (:mod:`heatwatch.local.servers`), and the console that prints the alerts it is sent
(:mod:`heatwatch.local.alert_console`). The tests' fixtures, the chaos harness and the
benchmarks start their servers and services through the same code.

This is the one part of the ``heatwatch`` package that sits above the services (it starts them
as processes and writes their config files); no service, and nothing else in the shared core,
imports it.
"""
