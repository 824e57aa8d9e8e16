"""Simulated district-heating fleet: stations, flats, faults and ground truth.

Python API (see docs/simulators.md):

* ``simulators.scenario.load_scenario(path)`` -> ``SimulatorSettings`` (the scenario YAML);
* ``simulators.fleet.SimFleet(settings, seed).step(t)`` -> ``Frame`` of numpy arrays (physics,
  faults and sensor readings, no MQTT);
* ``simulators.payloads.Encoder`` turns frames into wire-format v1 messages;
* ``simulators.runner.Simulation(settings).frames()`` yields (frame, status, data) per step,
  ``.run(sink)`` publishes through a sink (``simulators.publisher.MqttSink``, ``FileSink``,
  ``MemorySink``).
"""
