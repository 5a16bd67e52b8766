"""The predict worker: ``celery -A worker.predict worker -Q predict,samples``.

Runs both models as LiteRT flat-buffers and stores samples; it never imports TensorFlow
or Keras (a test checks), so it starts fast and fits a small dyno. Celery finds the app
in ``worker.predict.celery``.
"""
