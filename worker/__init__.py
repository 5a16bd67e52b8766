"""Celery workers: the predict/samples worker (LiteRT) and the trainer (TensorFlow)."""
