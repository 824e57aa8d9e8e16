"""heatwatch REST API (FastAPI): ``api.main.create_app``, served by ``heatwatch api``."""
