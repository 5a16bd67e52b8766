"""Task and queue names, declared once so web (which sends by name) and worker cannot drift."""

from shared.shapes import ModelName

PREDICT_BATCH = "digits.predict_batch"
SAVE_SAMPLE = "digits.save_sample"
EXPORT_SAMPLES = "digits.export_samples"
FINE_TUNE = "digits.fine_tune"
RETRAIN = "digits.retrain"

QUEUE_PREDICT = "predict"
QUEUE_SAMPLES = "samples"
QUEUE_TRAIN = "train"

#: Every queue a worker process may consume.
QUEUES: tuple[str, ...] = (QUEUE_PREDICT, QUEUE_SAMPLES, QUEUE_TRAIN)

#: Every task the workers must register, with the queue it is routed to.
TASK_QUEUES: dict[str, str] = {
    PREDICT_BATCH: QUEUE_PREDICT,
    SAVE_SAMPLE: QUEUE_SAMPLES,
    EXPORT_SAMPLES: QUEUE_SAMPLES,
    FINE_TUNE: QUEUE_TRAIN,
    RETRAIN: QUEUE_TRAIN,
}

#: The two networks every prediction runs, in display order.
MODEL_NAMES: tuple[ModelName, ...] = ("fnn", "cnn")
