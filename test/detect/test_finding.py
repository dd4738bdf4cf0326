"""Finding timestamps: the per-second cache gives exactly what strftime gives."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from traffic_guardian.detect.finding import parse_utc, timestamp_at_ns, utc_timestamp

NS = 1_000_000_000
YEAR_9999 = 253_402_300_799 * NS


def moment_of(nanoseconds: int) -> datetime:
    second, rest = divmod(nanoseconds, NS)
    return datetime.fromtimestamp(second, UTC).replace(microsecond=rest // 1000)


@given(st.lists(st.integers(min_value=0, max_value=YEAR_9999), min_size=1, max_size=20))
def test_timestamp_at_ns_is_what_utc_timestamp_gives_for_the_same_moment(readings):
    for nanoseconds in readings:  # in any order: the cached second must follow each reading
        assert timestamp_at_ns(nanoseconds) == utc_timestamp(moment_of(nanoseconds))


def test_the_last_nanosecond_of_a_second_and_the_first_of_the_next():
    second = 1_790_000_000 * NS
    assert timestamp_at_ns(second - 1) == "2026-09-21T14:13:19.999Z"
    assert timestamp_at_ns(second) == "2026-09-21T14:13:20.000Z"
    assert timestamp_at_ns(second - 1) == "2026-09-21T14:13:19.999Z"


def test_now_is_now():
    before = datetime.now(UTC)
    stamp = utc_timestamp()
    after = datetime.now(UTC)
    assert before - timedelta(milliseconds=1) <= parse_utc(stamp) <= after
