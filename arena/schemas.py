"""Declared schemas of the JSON API's request bodies (pydantic). A body is checked here for
shape and type before any service sees it: a wrong type, a character no database can store (NUL,
an unpaired surrogate) or an oversized field is a 400 with a message a person understands, never
a crash. The services then check meaning (a known modality, a ready battle, a complete ranking)
with their own messages."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

from django.conf import settings
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from arena.errors import BadRequest

UNSTORABLE = "unstorable text"


def _storable(value: str) -> str:
    """Text the database can store: Postgres refuses NUL, and UTF-8 has no unpaired surrogates."""
    if "\x00" in value:
        raise ValueError(UNSTORABLE)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(UNSTORABLE) from None
    return value


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


Text = Annotated[StrictStr, AfterValidator(_storable)]
Optional = BeforeValidator(_empty_is_none)


class Body(BaseModel):
    """Unknown keys are ignored (older or newer pages may send more)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    # The message for a field whose value has the wrong shape; {label} names the field for the
    # "cannot be stored" message.
    messages: ClassVar[dict[str, str]] = {}
    labels: ClassVar[dict[str, str]] = {}

    @classmethod
    def message_for(cls, error: dict) -> str:
        loc = [str(p) for p in error.get("loc", ())]
        field = loc[0] if loc else ""
        if UNSTORABLE in str(error.get("msg", "")):
            label = cls.labels.get(field, field)
            return f"The {label} contains a character that cannot be stored (a NUL or an unpaired surrogate)."
        return cls.messages.get(field) or f"{'.'.join(loc) or 'The request'}: {error.get('msg', 'invalid')}."


class BattleCreateBody(Body):
    modality: StrictStr = "text"
    prompt: Text | None = None
    mode: Annotated[StrictStr | None, Optional] = None
    k: Annotated[int | None, Optional] = None
    prompt_id: Annotated[Annotated[int, Field(ge=0, lt=2**63)] | None, Optional] = None
    models: Annotated[list[Text] | None, Optional] = None

    messages = {
        "modality": "The modality must be text, such as \"text\" or \"image\".",
        "prompt": "The prompt must be text.",
        "mode": "mode must be 'pairwise' or 'kwise'.",
        "k": "k must be a whole number.",
        "prompt_id": "prompt_id must be a number.",
        "models": "Pick the models by name (a list).",
    }
    labels = {"prompt": "prompt", "models": "model list"}


class TurnBody(Body):
    prompt: Text | None = None

    messages = {"prompt": "The prompt must be text."}
    labels = {"prompt": "prompt"}


class OptOutBody(Body):
    opt_out: Annotated[StrictBool | None, Optional] = None  # required: checked by the view

    messages = {"opt_out": "opt_out must be true or false."}


class Timings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    shown_at: Annotated[float | None, Optional] = None
    first_interaction_at: Annotated[float | None, Optional] = None
    voted_at: Annotated[float | None, Optional] = None


class VoteBody(Body):
    outcome: Annotated[StrictStr | None, Optional] = None
    ranking: Annotated[list[Any] | None, Optional] = None  # places: checked against the battle's K
    best: Annotated[StrictStr | None, Optional] = None
    criteria: Annotated[dict[StrictStr, StrictStr] | None, Optional] = None
    feedback: Annotated[Text | None, Optional] = None
    timings: Annotated[Timings | None, Optional] = None
    listen_ms: Annotated[dict[StrictStr, float] | None, Optional] = None
    idempotency_key: Annotated[Annotated[Text, Field(max_length=64)] | None, Optional] = None
    # A solved proof-of-work challenge, {"challenge", "solution"} (arena.services.pow checks it).
    pow: Annotated[dict[StrictStr, Any] | None, Optional] = None

    messages = {
        "outcome": "Choose one of: A is better, B is better, tie, both are bad.",
        "ranking": "Rank the outputs with a list of places (1 = best), or pick only the best.",
        "best": "The best output must be one of the output letters (A, B, ...).",
        "criteria": "Per-criterion votes are a mapping {criterion: a|b|tie|both_bad}, for pairwise battles.",
        "listen_ms": "listen_ms must map output letters (A, B, ...) to milliseconds.",
        "idempotency_key": "idempotency_key must be a string of at most 64 characters.",
        "pow": 'pow must be {"challenge": "...", "solution": "..."}.',
    }
    labels = {"feedback": "feedback", "idempotency_key": "idempotency_key"}

    @classmethod
    def message_for(cls, error: dict) -> str:
        loc = [str(p) for p in error.get("loc", ())]
        if loc and loc[0] == "feedback" and UNSTORABLE not in str(error.get("msg", "")):
            return f"Feedback must be text of at most {settings.ARENA_FEEDBACK_MAX_CHARS} characters."
        if loc and loc[0] == "timings":
            if len(loc) > 1 and loc[1] in Timings.model_fields:
                return f"timings.{loc[1]} must be a time in milliseconds since 1970."
            return "timings must be an object."
        return super().message_for(error)


B = TypeVar("B", bound=Body)


def parse_body(schema: type[B], data: object) -> B:
    """The body as `schema`, or BadRequest with the message of its first problem."""
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise BadRequest(schema.message_for(e.errors()[0])) from None


def as_service_data(body: Body) -> dict[str, Any]:
    """The validated body as the plain dict the services take (absent fields as None)."""
    data = body.model_dump()
    if isinstance(body, VoteBody):
        data["timings"] = data.get("timings") or {}
    return data
