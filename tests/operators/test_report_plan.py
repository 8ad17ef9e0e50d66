"""The plain rules behind the report operators: windows, restatement, poll schedule, plan, account ids."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from airflow_provider_msads.operators.report_plan import (
    DateWindow,
    PollSchedule,
    ReportChunk,
    ReportPlan,
    Restatement,
    chunk_accounts,
    normalise_account_ids,
    parse_day,
)

UTC = timezone.utc
D = date(2024, 6, 10)


# -- windows ------------------------------------------------------------------------------------------


def test_daily_data_interval_is_one_day() -> None:
    start = datetime(2024, 6, 10, tzinfo=UTC)
    assert DateWindow.from_data_interval(start, start + timedelta(days=1), None) == DateWindow(D, D)


def test_weekly_interval_covers_seven_days_and_empty_interval_its_start() -> None:
    start = datetime(2024, 6, 10, tzinfo=UTC)
    week = DateWindow.from_data_interval(start, start + timedelta(days=7), None)
    assert (week.start, week.end, week.days) == (D, D + timedelta(days=6), 7)
    assert DateWindow.from_data_interval(start, start, None) == DateWindow(D, D)


def test_without_interval_the_window_is_the_day_before_run_after() -> None:
    run_after = datetime(2024, 6, 11, 5, 30, tzinfo=UTC)
    assert DateWindow.from_data_interval(None, None, run_after) == DateWindow(D, D)


@pytest.mark.parametrize(
    "value",
    [
        "2024-06-10",
        "2024-06-10T00:00:00+00:00",
        "2024-06-10 23:59:59",
        date(2024, 6, 10),
        datetime(2024, 6, 10, 7),
    ],
)
def test_parse_day_accepts_what_templates_render(value: object) -> None:
    assert parse_day(value, "window_start") == D


@pytest.mark.parametrize("value", ["", "yesterday", "2024-13-01", None, 20240610])
def test_parse_day_names_the_parameter(value: object) -> None:
    with pytest.raises(ValueError, match=r"window_end: .* is not a date; give YYYY-MM-DD"):
        parse_day(value, "window_end")


def test_end_before_start_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="window_end 2024-06-09 is before window_start 2024-06-10"):
        DateWindow.from_values("2024-06-10", "2024-06-09")


# -- restatement --------------------------------------------------------------------------------------


def test_restatement_widens_back_to_the_first_incomplete_day() -> None:
    plan = Restatement(7).plan(DateWindow(D, D), D - timedelta(days=2))
    assert plan.pulled == DateWindow(D - timedelta(days=2), D)
    assert plan.requested == DateWindow(D, D)
    assert plan.restated_days == 2


def test_restatement_is_bounded_by_lookback_days() -> None:
    rule = Restatement(3)
    assert rule.since(DateWindow(D, D)) == D - timedelta(days=3)
    plan = rule.plan(DateWindow(D, D), D - timedelta(days=30))
    assert plan.pulled.start == D - timedelta(days=3) and plan.restated_days == 3


@pytest.mark.parametrize("earliest", [None, D, D + timedelta(days=1), D + timedelta(days=40)])
def test_nothing_to_restate_keeps_the_window(earliest: date | None) -> None:
    window = DateWindow(D, D + timedelta(days=1))
    assert Restatement(7).plan(window, earliest).pulled == window


def test_lookback_zero_turns_restatement_off() -> None:
    rule = Restatement(0)
    assert not rule.enabled
    assert rule.plan(DateWindow(D, D), D - timedelta(days=1)).pulled == DateWindow(D, D)


@pytest.mark.parametrize("bad", [-1, 367, 1.5, True, "7"])
def test_lookback_days_must_be_a_small_whole_number(bad: object) -> None:
    with pytest.raises(ValueError, match="lookback_days"):
        Restatement(bad)  # type: ignore[arg-type]


# -- poll schedule ------------------------------------------------------------------------------------


def test_poll_schedule_backs_off_to_its_bound() -> None:
    schedule = PollSchedule(interval=2, max_interval=10, factor=2)
    assert [schedule.delay(n) for n in range(5)] == [2, 4, 8, 10, 10]
    assert schedule.delay(10_000) == 10


def test_poll_wait_honours_retry_after_and_the_deadline() -> None:
    schedule = PollSchedule(interval=2, max_interval=60, factor=1)
    assert schedule.wait(0, now=100, deadline=1000, retry_after=30) == 30
    assert schedule.wait(0, now=100, deadline=1000, retry_after=600) == 60  # capped by max_interval
    assert schedule.wait(0, now=999, deadline=1000) == 1
    assert schedule.wait(0, now=1001, deadline=1000) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interval": 0}, "poll_interval must be more than 0"),
        ({"interval": 10, "max_interval": 5}, "max_poll_interval"),
        ({"factor": 0.5}, "factor"),
        ({"interval": float("nan")}, "must be a number"),
    ],
)
def test_poll_schedule_rejects_bad_values(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PollSchedule(**kwargs)


# -- plan ---------------------------------------------------------------------------------------------


def test_plan_round_trips_through_json_and_tracks_resubmissions() -> None:
    plan = ReportPlan(
        window=DateWindow(D - timedelta(days=2), D),
        requested=DateWindow(D, D),
        chunks=(ReportChunk((1, 2), "r1"), ReportChunk((3,), "r2")),
        loaded_at=datetime(2024, 6, 11, 6, tzinfo=UTC),
        extra={"report": "AccountPerformance"},
    )
    import json

    again = ReportPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again == plan
    assert again.account_ids == (1, 2, 3) and again.report_request_ids == ("r1", "r2")
    retried = plan.resubmitted({"r2": "r3"})
    assert retried.chunks == (ReportChunk((1, 2), "r1"), ReportChunk((3,), "r3", attempt=2))


def test_unreadable_plan_says_how_to_recover() -> None:
    with pytest.raises(ValueError, match="clear the task"):
        ReportPlan.from_json({"window": ["x"]})


# -- account ids --------------------------------------------------------------------------------------


def test_account_ids_from_every_shape_a_dag_hands_over() -> None:
    assert normalise_account_ids(None) is None
    assert normalise_account_ids([3, "2", 2]) == (2, 3)
    assert normalise_account_ids("5, 4;6") == (4, 5, 6)
    assert normalise_account_ids(7) == (7,)
    rows = [{"account_id": 9, "customer_id": 1}, {"account_id": 8}]
    assert normalise_account_ids(rows) == (8, 9)
    assert normalise_account_ids([rows, [{"account_id": 10}]]) == (8, 9, 10)  # batches


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([], "account_ids is empty"),
        (["F12345"], "'F12345' is not an account id"),
        ([0], "is not an account id"),
        ([True], "is not an account id"),
        ([{"customer_id": 1}], "a row without 'account_id'"),
    ],
)
def test_bad_account_ids_are_named(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        normalise_account_ids(value)


def test_chunks_hold_at_most_1000_accounts() -> None:
    chunks = chunk_accounts(list(range(1, 2502)))
    assert [len(c) for c in chunks] == [1000, 1000, 501]
    assert [a for c in chunks for a in c] == list(range(1, 2502))
