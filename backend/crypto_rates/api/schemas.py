"""Response models: they document the API in /openapi.json (bodies are pre-serialised bytes)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crypto_rates.conversion import SMALLEST_NORMAL
from crypto_rates.rate import RateType, Source


class RateOut(BaseModel):
    code: str = Field(examples=["usd"])
    name: str = Field(examples=["US Dollar"])
    unit: str = Field(examples=["$"])
    type: RateType
    value: float = Field(description="Units of this currency per 1 `base`.", examples=[87000.5])


class DataFreshness(BaseModel):
    """Where the data of an answer came from and how old it is: every /api/v1 answer carries it."""

    fetched_at: datetime = Field(description="When the data was fetched from CoinGecko (UTC).")
    age_seconds: int = Field(ge=0, description="Whole seconds since `fetched_at`.")
    stale: bool = Field(description="True for sample data or data older than STALE_AFTER.")
    source: Source


class RatesList(DataFreshness):
    base: str = Field(examples=["btc"])
    count: int = Field(ge=0)
    rates: list[RateOut]


class RateDetail(DataFreshness):
    base: str
    rate: RateOut


class HistoryPointOut(BaseModel):
    t: datetime
    value: float


class History(DataFreshness):
    """Recorded CoinGecko data only (never the sample); the freshness fields describe the data
    currently served, which is also the newest point once CoinGecko has answered."""

    model_config = ConfigDict(populate_by_name=True)

    code: str
    base: str
    from_: datetime = Field(alias="from", description="The window's start (UTC).")
    to: datetime = Field(description="The window's end (UTC).")
    resolution_seconds: int = Field(
        ge=1,
        description="At most one point per this many seconds: the refresh interval, or the "
        "step the points were thinned to (the first point of each step is kept).",
    )
    count: int = Field(ge=0, le=500)
    points: list[HistoryPointOut]


class Conversion(DataFreshness):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", examples=["eth"])
    to: str = Field(examples=["usd"])
    amount: float = Field(gt=0, examples=[2.5])
    rate: float = Field(gt=0, description="Units of `to` per 1 `from`.")
    result: float = Field(
        ge=0,
        description=f"`amount` x `rate`. A result below {SMALLEST_NORMAL!r} (the smallest normal "
        "double) is 0: below it a double carries fewer correct digits than it shows.",
    )


class LegacyRate(BaseModel):
    name: str
    unit: str
    value: float = Field(description="Units per 1 BTC.")
    type: RateType


class LegacyRates(BaseModel):
    last_updated: datetime
    rates: dict[str, LegacyRate]
    total_currencies: int
    data_source: Source
    cache_status: Literal["fresh", "cached", "stale"]


class HealthDatabase(BaseModel):
    engine: Literal["postgresql", "sqlite"]
    status: Literal["up", "down", "unknown"] = Field(
        description="down: serving from memory, and this replica polls for itself."
    )
    role: Literal["poller", "follower", "standalone"] | None = Field(
        description="poller: this replica calls upstream for the deployment; follower: it serves "
        "what the poller stored; standalone: it polls for itself (the database is down)."
    )


class HealthBudget(BaseModel):
    calls_this_month: int = Field(description="Upstream calls this UTC month, all replicas.")
    monthly_calls: int | None = Field(description="The allowance (COINGECKO_MONTHLY_CALLS).")
    refresh_interval_seconds: float = Field(
        description="The interval in force: REFRESH_INTERVAL, or longer to last the month."
    )
    stretched: bool


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime
    version: str
    uptime: float = Field(description="Seconds since the process started.")
    api_status: Literal["ok", "failing", "unknown"] = Field(
        description="Outcome of the last upstream refresh cycle."
    )
    snapshot_age_seconds: float | None
    database: HealthDatabase
    upstream_budget: HealthBudget


class Probe(BaseModel):
    status: Literal["alive", "ready"]


class IndexLinks(BaseModel):
    docs: str
    openapi: str
    rates: str


class Index(BaseModel):
    name: str
    version: str
    data_source: str
    links: IndexLinks
