"""The shapes of what crosses a process boundary: messages, records and answers as they are.

Each travels as JSON (a Celery message, a Redis value, a file in the store) and is read
by another process than the one that wrote it; these types say which keys it has. They
describe the data, they change nothing on the wire: where JSON is parsed, a ``cast`` at
that one place says which of these it is. A sample's metadata is ``SampleMeta``
(``shared.dataset.samples``).
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    NotRequired,
    Required,
    TypedDict,
    TypeGuard,
    get_args,
)

if TYPE_CHECKING:
    from shared.number_reading import Readings

#: The models every prediction runs (``shared.names.MODEL_NAMES``), as a type: the keys
#: of ``ImageAnswers``, so a name of this type may index one.
ModelName = Literal["fnn", "cnn"]


def is_model_name(name: str) -> TypeGuard[ModelName]:
    """Whether ``name`` (from a file or a message) names one of the models."""
    return name in get_args(ModelName)


# --- Predictions -------------------------------------------------------------------------

#: One job of a ``predict_batch`` message (web to the predict worker): its id, the images
#: as base64 of 28x28 bytes (the whole canvas, then each digit), and the ways to read the
#: number. JSON carries it as a list, which the worker checks before it trusts it.
PredictJob = tuple[str, str, "Readings"]


class ModelAnswer(TypedDict):
    """One model's answer for one image (``shared.answers``): in outcomes and the API."""

    #: None when the model refuses the drawing as not a digit.
    digit: int | None
    #: The ten digit probabilities, renormalised, six decimals.
    probabilities: list[float]
    not_digit: float
    version: int


class ShadowAnswer(TypedDict):
    """A live challenger's answer for one image: kept in the outcome for its race, not shown."""

    digit: int | None
    not_digit: float
    version: int


class ImageAnswers(TypedDict):
    """Both models' answers for one image, as the predict worker's model call gives them."""

    fnn: ModelAnswer
    cnn: ModelAnswer
    #: The live challengers' answers, by model name; only on the images read in shadow.
    shadow: NotRequired[dict[str, ShadowAnswer]]


class NumberResult(ImageAnswers):
    """A prediction's result (predict worker to web): the canvas's answers, and the number's."""

    #: The answers of the images that make the number, left to right.
    parts: list[ImageAnswers]
    #: Their indices among the images (0 is the whole canvas).
    chosen: list[int]


class NumberAnswer(TypedDict):
    """The number in a result as the client reads it (``shared.number_reading.answer``)."""

    #: Both models' reading (``shared.number_reading.part_digit``), ``?`` for a part they
    #: do not read as a digit; None when it is not a number.
    text: str | None
    #: Each digit found, left to right: its box, preview, both models' answers, ``digit``
    #: (its place in ``text``: ``part_digit``, None for ``?``) and ``strokes``, the indices
    #: of the request's strokes it was drawn from (None when the canvas was read from its
    #: PNG).
    digits: list[dict[str, Any]]
    #: True when the drawing does not read as a number at all (``text`` is then None).
    not_a_number: bool
    #: Why, when it is not a number: a code (``shared.number_reading.UNSURE``).
    reason: NotRequired[str]


class JobError(TypedDict):
    """Why a job failed, as the client reads it: a code and a sentence."""

    code: str
    message: str


class PredictionOutcome(TypedDict, total=False):
    """A prediction's outcome, predict worker to web (record, reply channel): result or error."""

    result: NumberResult
    error: JobError


class PredictionRecord(TypedDict):
    """A prediction's Redis record, filled by web and the worker, as web reads it (``read``)."""

    #: ``repr`` of the time web accepted the job.
    created_at: str
    #: The images the models read, base64 (the hash keeps them zlib-compressed).
    pixels: str
    #: Each image's box on the canvas, a JSON list.
    boxes: str
    #: Each image's strokes (indices into the request's ``strokes``), a JSON list of lists;
    #: only when the canvas was read from its strokes, not its PNG (``web.drawings``).
    strokes: NotRequired[str]
    #: A ``PredictionOutcome`` as JSON, once the worker answered.
    outcome: NotRequired[str]
    #: The person's feedback as JSON (``web.feedback``), once given.
    feedback: NotRequired[str]


# --- Challengers and their races ---------------------------------------------------------


class Challenger(TypedDict):
    """A live challenger, an entry of ``models/challengers.json`` (trainer, predict, web)."""

    version: int
    #: ISO time it started racing: its days are counted from it.
    since: str
    #: The champion's version when it started.
    champion: int


class Pair(TypedDict):
    """One label's pair in a race, kept in the store (``challengers/pairs/...``)."""

    champion_right: bool
    challenger_right: bool
    #: Who sent the label; pairs kept before clients were counted have none.
    client: NotRequired[str]
    time: float


class RaceCounts(TypedDict):
    """A race's pairs in all, one count per kind of pair."""

    both_right: int
    champion_only: int
    challenger_only: int
    both_wrong: int


class Judgement(RaceCounts):
    """A race as it stands: its counts, the test's p-values, the decision (None: go on)."""

    pairs: int
    clients: int
    discordant_clients: int
    p_worse: float
    p_better: float
    #: "promoted", "retired" or None.
    decision: str | None
    #: Why: "better", "worse", "pairs", "days"; None while it goes on, or decided by hand.
    reason: str | None


class DayPoint(TypedDict):
    """One day of a race's chart: its pairs, and the share each version got right."""

    day: str
    pairs: int
    champion: float
    challenger: float


class Race(Judgement):
    """A live race: shown by web (``/api/models``, the stats page), swept by the trainer."""

    version: int
    since: str
    by_day: list[DayPoint]


class RaceDecision(Race):
    """A settled race, in the store: ``challengers/decisions/``, and its version's metrics."""

    model: str
    champion: int
    #: "race" (the race decided itself), "admin", or a tool's name.
    by: str
    decided_at: str
    decided_ts: float


# --- Training jobs -----------------------------------------------------------------------


class TrainingJob(TypedDict, total=False):
    """A fine-tune or retrain: web or the predict worker to the trainer, and GET /api/fine-tunes."""

    # A Redis hash (``digits:fine_tune:<id>``) of JSON values. Its fields arrive as the job
    # goes, so a record lost midway may lack any; ``read_job`` adds ``id`` and ``kind``.
    id: Required[str]
    #: "fine_tune" or "retrain".
    kind: Required[str]
    #: "queued", "running", then one of ``shared.fine_tune_jobs.FINISHED``.
    status: str
    #: A retrain's ``epochs`` and ``mnist_limit``, when an admin chose them.
    options: dict[str, int]
    #: Who started it: "admin" or "samples" (enough new ones).
    reason: str
    created_at: float
    started_at: float
    #: Progress: training steps done of ``total``, and the loss at the last.
    step: int
    total: int
    loss: float
    finished_at: float
    #: Why it failed (public: no paths or hosts).
    error: str
    #: What the round did, model by model (``worker.trainer``).
    result: dict[str, Any]
    #: When a ``settle`` first found it without its lock.
    lock_lost_at: float
