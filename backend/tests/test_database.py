"""The state database on both engines: snapshots, history, call counts, migrations, leadership."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.config import SettingsError, load_settings
from crypto_rates.database import Database, describe_error, snapshots, upstream_calls
from crypto_rates.database_url import parse_database_url
from crypto_rates.history import DAY, HOUR, Archive, ArchivedPoint
from crypto_rates.rate import Source
from crypto_rates.snapshot import Snapshot, build_snapshot
from sqlalchemy import insert
from testkit.postgres import PASSWORD, PostgresServer

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def points_of(archive: Archive) -> list[ArchivedPoint]:
    return [
        ArchivedPoint(code, resolution, t, v)
        for resolution, tier in archive.tiers.items()
        for code, series in tier.items()
        for t, v in zip(series.times, series.values, strict=True)
    ]


def snapshot_at(fixture_body: bytes, at: datetime, factor: float = 1.0) -> Snapshot:
    payload = json.loads(fixture_body)
    for rate in payload["rates"].values():
        rate["value"] *= factor
    rates = parse_exchange_rates(json.dumps(payload).encode())
    return build_snapshot(rates, at, Source.COINGECKO)


@pytest.fixture
async def database(database_url: str):  # type: ignore[no-untyped-def]
    db = Database(parse_database_url(database_url))
    await db.migrate()
    yield db
    await db.close()


async def test_snapshots_and_history_round_trip(database: Database, fixture_body: bytes) -> None:
    stored = [
        snapshot_at(fixture_body, T0 + timedelta(minutes=5 * i), 1 + i / 10) for i in range(3)
    ]
    for snapshot in stored:
        await database.save(snapshot)
    await database.save(stored[1])  # the same fetch written twice (two replicas) is kept once

    latest = await database.latest()
    assert latest is not None and latest.version == stored[-1].version
    assert await database.latest_fetched_at() == stored[-1].fetched_at
    history = await database.history(T0 + timedelta(minutes=1))
    assert [p.t for p in history] == [s.fetched_at for s in stored[1:]]
    assert history[0].values["usd"] == stored[1].rates["usd"].value


async def test_stored_rows_are_validated_like_live_data(
    database: Database, fixture_body: bytes
) -> None:
    await database.save(snapshot_at(fixture_body, T0))
    bad = {"usd": {"name": "US Dollar", "unit": "$", "value": 1e300, "type": "fiat"}}
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(snapshots).values(
                fetched_at=T0 + timedelta(minutes=5), source="coingecko", rates=json.dumps(bad)
            )
        )
    latest = await database.latest()
    assert latest is None  # the newest row is out of bounds: skipped, not served
    assert [p.t for p in await database.history(T0 - timedelta(hours=1))] == [T0]


async def test_calls_are_counted_per_month_across_processes(database_url: str) -> None:
    first = Database(parse_database_url(database_url))
    second = Database(parse_database_url(database_url))
    await first.migrate()
    await second.migrate()  # a second migration of a current schema changes nothing
    try:
        assert await first.add_calls("2026-12", 2) == 2
        assert await second.add_calls("2026-12", 3) == 5
        assert await first.add_calls("2026-12", 0) == 5
        assert await first.add_calls("2027-01", 1) == 1
    finally:
        await first.close()
        await second.close()


async def test_an_upgrade_keeps_the_data_of_the_previous_schema(
    database_url: str, fixture_body: bytes
) -> None:
    db = Database(parse_database_url(database_url))
    try:
        await db.migrate("0001")
        await db.save(snapshot_at(fixture_body, T0))
        async with db.engine.connect() as conn:
            with pytest.raises(Exception, match="upstream_calls"):
                await conn.execute(insert(upstream_calls).values(month="2026-12", calls=1))
        await db.migrate()
        latest = await db.latest()
        assert latest is not None and latest.fetched_at == T0
        assert await db.add_calls("2026-12", 1) == 1
    finally:
        await db.close()


async def test_one_process_leads_and_another_takes_over_when_it_goes(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database("leadership")
    first, second = (Database(parse_database_url(url)) for _ in range(2))
    try:
        assert await first.lead() is True
        assert await first.lead() is True  # still held
        assert await second.lead() is False
        await first.release_lead()
        assert await second.lead() is True
        assert await first.lead() is False
    finally:
        await first.close()
        await second.close()


async def test_with_sqlite_the_one_process_always_leads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(parse_database_url(f"sqlite:///{tmp_path}/x.db"))
    try:
        assert await db.lead() is True
    finally:
        await db.close()


async def test_the_password_never_shows(postgres: PostgresServer) -> None:
    wrong = postgres.url().replace(PASSWORD, PASSWORD + "-wrong")
    db = Database(parse_database_url(wrong))
    assert PASSWORD not in db.target.display
    with pytest.raises(Exception) as caught:
        await db.lead()
    assert PASSWORD not in describe_error(caught.value)
    await db.close()
    with pytest.raises(SettingsError) as bad:
        load_settings(database_url=f"mysql://u:{PASSWORD}@host/db")
    assert "DATABASE_URL" in str(bad.value) and PASSWORD not in str(bad.value)


@pytest.mark.parametrize(
    ("url", "display", "connect_args"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:***@db:5432/app", {}),
        (
            "postgres://u:p@db/app?sslmode=require",
            "postgresql+asyncpg://u:***@db/app",
            {"ssl": "require"},
        ),
        ("sqlite:///.data/x.db", "sqlite+aiosqlite:///.data/x.db", {}),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db", {}),
    ],
)
def test_database_urls_users_copy_are_understood(
    url: str, display: str, connect_args: dict[str, str]
) -> None:
    parsed = parse_database_url(url)
    assert parsed.display == display and parsed.connect_args == connect_args


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://u:p@h/db", "unsupported scheme 'mysql'"),
        ("postgresql://u:p@/db", "has no host"),
        ("postgresql://u:p@h:5432/", "must name one database"),
        ("postgresql://u:p@h/db?sslmode=maybe", "sslmode must be one of"),
        ("postgresql://u:p@h/db?options=x", "unsupported query parameter 'options'"),
        ("sqlite://host/x.db", "has no host"),
        ("postgresql://u:p@h:99999/db", "is not a URL"),
    ],
)
def test_an_invalid_database_url_stops_start_up_naming_the_variable(
    url: str, complaint: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(database_url=url)
    message = str(caught.value)
    assert message.startswith("DATABASE_URL: ") and complaint in message
    assert "\n" not in message


def test_without_database_url_sqlite_sits_next_to_the_snapshot_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(snapshot_path=tmp_path / "snap.json")
    assert settings.database.engine == "sqlite"
    assert settings.database.url.database == str(tmp_path / "crypto-rates.db")
    assert load_settings(snapshot_path="").database.in_memory


async def test_an_upgrade_to_the_history_schema_downsamples_old_refreshes_before_pruning(
    database_url: str, fixture_body: bytes
) -> None:
    db = Database(parse_database_url(database_url))
    try:
        await db.migrate("0002")  # the schema before history: refreshes of 4 days, every 20 min
        for i in range(4 * 72):
            await db.save(snapshot_at(fixture_body, T0 + timedelta(minutes=20 * i), 1 + i / 1000))
        await db.migrate()
        now = (T0 + timedelta(days=4, minutes=5)).timestamp()
        points = await db.compact(None, now)
        await db.prune(now)
        hourly = sorted((p.t, p.value) for p in points if p.code == "usd" and p.resolution == HOUR)
        daily = sorted((p.t, p.value) for p in points if p.code == "usd" and p.resolution == DAY)
        usd = json.loads(fixture_body)["rates"]["usd"]["value"]
        assert len(hourly) == 96 and hourly[1] == (
            (T0 + timedelta(hours=1)).timestamp(),
            usd * 1.003,
        )
        # Days before today that have hourly points: 1 Dec (from 12:00), 2, 3 and 4 Dec.
        assert [t for t, _ in daily] == [
            datetime(2026, 12, d, tzinfo=UTC).timestamp() for d in (1, 2, 3, 4)
        ][: len(daily)] and len(daily) == 4
        stored = points_of(await db.load_archive())
        assert sorted(stored) == sorted(points)  # what was computed is what is stored
        kept = await db.history(T0)
        assert kept[0].t == T0 + timedelta(days=2, minutes=20)  # raw refreshes: the last 48 h
        await db.prune(now + 100 * 86400)
        assert {p.resolution for p in points_of(await db.load_archive())} == {DAY}  # hourly: 90 d
        assert (await db.latest()) is not None  # the newest refresh is never pruned
    finally:
        await db.close()
