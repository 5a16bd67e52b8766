"""The trainer: ``celery -A worker.trainer worker -Q train --concurrency 1``.

Fine-tunes the models with TensorFlow/Keras and publishes versions; also holds the
command lines that train (``python -m worker.trainer.make_models``) and evaluate
(``python -m worker.trainer.evaluate``) the shipped models. Celery finds the app in
``worker.trainer.celery``.
"""
