"""Request and response models of the public API, shared by gateway, inference, workers and tests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from agnews_core import labels
from agnews_core.text import model_input, scrub
from agnews_core.training_knobs import api_knobs, optional_copy

# Every text a caller sends: lone surrogates and control characters become spaces on arrival.
SafeStr = Annotated[str, AfterValidator(scrub)]


class Article(BaseModel):
    """A news article as AG News has it."""

    title: SafeStr = ""
    description: SafeStr = ""


class ClassifyRequest(BaseModel):
    """Either free `texts` or structured `articles`, not both."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"texts": ["Federer wins his fifth Wimbledon title after a five-set final."]},
                {"articles": [{"title": "Oil prices climb", "description": "Crude rose 3% as supply fears grew."}]},
            ]
        }
    )

    texts: list[SafeStr] | None = None
    articles: list[Article] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyRequest:
        if (self.texts is None) == (self.articles is None):
            raise ValueError("send exactly one of 'texts' or 'articles'")
        if not self.items_count():
            raise ValueError("send at least one text or article")
        # a text the shared function cleans to nothing would get a meaningless prediction
        empty = [i for i, text in enumerate(self.model_inputs()) if not text]
        if empty:
            field = "texts" if self.texts is not None else "articles"
            shown = ", ".join(f"{field}.{i}" for i in empty[:5]) + (" ..." if len(empty) > 5 else "")
            raise ValueError(f"{shown}: empty once cleaned (whitespace, markup or control characters only)")
        return self

    def items_count(self) -> int:
        return len(self.texts if self.texts is not None else self.articles or [])

    def model_inputs(self) -> list[str]:
        """Model input for each item, through the shared text function."""
        if self.texts is not None:
            return [model_input(t) for t in self.texts]
        return [model_input(a.title, a.description) for a in self.articles or []]


class Prediction(BaseModel):
    label: str
    label_id: int = Field(description="1-4, as in the AG News dataset")
    scores: dict[str, float]
    prediction_id: str | None = Field(
        None, description="id for POST /v1/feedback; null when this prediction was not sampled into the log"
    )


class ClassifyResponse(BaseModel):
    model_version: str
    predictions: list[Prediction]


class FeedbackRequest(BaseModel):
    """The true class of a served prediction."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"prediction_id": "9f1c0e…", "label": "Sports"}]}
    )

    prediction_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")
    label: str = Field(description="one of the four class names")

    @field_validator("label")
    @classmethod
    def _known_label(cls, value: str) -> str:
        labels.label_id(value)  # ValueError naming the four classes
        return value


class FeedbackResponse(BaseModel):
    prediction_id: str
    model_version: str
    predicted: str
    label: str
    correct: bool
    replaced: bool = Field(description="true when this replaced earlier feedback for the same prediction")


class LiveAccuracy(BaseModel):
    model_version: str
    n: int = Field(description="feedback in the window")
    correct: int
    accuracy: float | None


class FeedbackCount(BaseModel):
    model_version: str
    correct: bool
    n: int


class HistoryPoint(BaseModel):
    """One 5-minute bucket of the champion's traffic."""

    t: datetime
    feedback: int
    correct: int
    accuracy: float | None
    label_mix: dict[str, int] = Field(description="predicted-label counts")
    drift_label_mix: float | None = Field(description="JS divergence of this bucket's mix from training")
    drift_input_length: float | None = Field(description="the same for model-input length")
    drift_unknown_words: float | None = Field(None, description="the same for the unknown-word share")


class ShadowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    share: float = Field(0.25, gt=0.0, le=1.0, description="share of logged live traffic the shadow scores")


class ShadowView(BaseModel):
    version: str
    share: float
    updated_at: str
    scored: int = Field(0, description="predictions the shadow scored beside the current champion")
    agreement: float | None = Field(None, description="share of those equal to the champion's label")


class MonitoringSummary(BaseModel):
    champion: str | None
    window_s: float = Field(description="live accuracy window")
    live_accuracy: list[LiveAccuracy]
    feedback_total: list[FeedbackCount]
    drift_window_s: float
    drift: dict[str, float | None] = Field(description="signal -> divergence from the champion's training data")
    label_mix_live: dict[str, int]
    label_mix_training: dict[str, int] | None = Field(description="the champion's data card; null without one")
    input_length_live: dict[str, int] = Field(description="model inputs per length bucket (characters)")
    input_length_training: dict[str, int] | None
    unknown_words_live: dict[str, int] = Field(
        default_factory=dict, description="model inputs per share of words outside the training vocabulary"
    )
    unknown_words_training: dict[str, int] | None = Field(
        None, description="the same buckets for the held-out test split (the data card); null without one"
    )
    history: list[HistoryPoint]
    shadow: ShadowView | None


class JobType(StrEnum):
    BATCH = "batch"
    TRAINING = "training"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobProgress(BaseModel):
    fraction: float = Field(0.0, ge=0.0, le=1.0)
    message: str = ""
    eta_s: float | None = Field(None, ge=0, description="seconds left, as the job itself estimates; null: unknown")


class Job(BaseModel):
    id: str
    type: JobType
    state: JobState
    progress: JobProgress = Field(default_factory=JobProgress)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    owner: str | None = Field(None, description="the client key's name that created the job; null for anonymous")
    attempts: int = Field(0, description="deliveries that started the job (a re-queue after a lost worker adds one)")


class JobList(BaseModel):
    jobs: list[Job]


# The trainer's presets (agnews_trainer.training.presets.PRESETS; a trainer test pins the two equal): the
# gateway refuses other names at the door, before a job waits behind a real run only to fail.
TRAINING_PRESETS = ("tfidf", "minilm", "minilm-blend", "sbert", "roberta", "bert", "albert", "xlnet")


def _training_job_fields() -> dict[str, Any]:
    """The API knobs (declared in training_knobs), each optional here: unset means the worker's default."""
    fields: dict[str, Any] = {name: optional_copy(info) for name, info in api_knobs().items()}
    fields["data"] = (
        str | None,
        Field(
            None, max_length=1000, description="data source under an allowed prefix; default: the trainer's own data"
        ),
    )
    return fields


if TYPE_CHECKING:
    _TrainingJobFields = BaseModel
else:
    _TrainingJobFields = create_model("_TrainingJobFields", **_training_job_fields())


class TrainingJobRequest(_TrainingJobFields):
    """Knobs of a queued pipeline run (same names as `agnews-train run`), derived from `TrainingKnobs`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"preset": "tfidf"}, {"preset": "minilm", "time_budget_min": 30}]},
    )


class ModelInfo(BaseModel):
    version: str
    kind: str
    preset: str
    created_at: datetime
    is_champion: bool
    metrics: dict[str, Any]


class ModelList(BaseModel):
    champion: str | None
    models: list[ModelInfo]


class ChampionResponse(BaseModel):
    champion: str
