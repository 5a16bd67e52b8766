"""The two Celery worker apps, one package each, and the base they share.

- ``worker.predict``: the predict worker (LiteRT only, queues ``predict`` and ``samples``).
- ``worker.trainer``: the trainer (TensorFlow, queue ``train``), plus the command lines
  that train and evaluate the shipped models.
- ``worker.celery_base`` and ``worker.clients``: the configuration and per-process
  clients both apps use.
"""
