"""Request and response models of the public API, shared by gateway, inference, workers and tests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from agnews_core.text import model_input
from agnews_core.training_knobs import api_knobs, optional_copy


class Article(BaseModel):
    """A news article as AG News has it."""

    title: str = ""
    description: str = ""


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

    texts: list[str] | None = None
    articles: list[Article] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyRequest:
        if (self.texts is None) == (self.articles is None):
            raise ValueError("send exactly one of 'texts' or 'articles'")
        if not self.items_count():
            raise ValueError("send at least one text or article")
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


class ClassifyResponse(BaseModel):
    model_version: str
    predictions: list[Prediction]


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


class JobList(BaseModel):
    jobs: list[Job]


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
