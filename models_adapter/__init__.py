"""Adapters that turn (prompt, turns, params) into a model output, and the Celery tasks that run them.

`models_adapter.base` holds the interface and the registry; it imports nothing from Django,
so an adapter can be tested on its own. `models_adapter.tasks` is the Django/Celery side.
"""
