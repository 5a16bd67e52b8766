"""The trainer: ``celery -A worker.trainer worker -Q train --concurrency 1``.

Fine-tunes the models with TensorFlow/Keras and publishes versions. Its ``tools``
package holds the command lines that train (``python -m worker.trainer.tools.make_models``)
and evaluate (``python -m worker.trainer.tools.evaluate``) the shipped models; the running
trainer loads none of them. Celery finds the app in ``worker.trainer.celery``.
"""
