"""Arena ratings.

``ratings.engine`` is the pure-Python rating engine (numpy / scipy, no Django) shared by the
server's Celery tasks and by researchers (``python -m ratings fit VOTES``). The Django side of
the app (models, tasks, ``apps.py``) lives beside it and imports the engine, never the reverse,
so this file must stay free of Django imports.
"""
