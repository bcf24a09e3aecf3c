"""Stream-maintained aggregates equal the values recomputed from the assets, whatever happens."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impactlens.db.aggregates import AggregateConsumer, drain, read_aggregates, read_stats, recompute
from impactlens.db.table import KeyRange, iterate
from tests.backends import make_table

ORGS, BRANDS, CAMPAIGNS, ASSETS = ["o1", "o2"], ["b1", "b2"], ["c1", "c2"], [f"a{i}" for i in range(4)]
score = st.floats(0, 1, allow_nan=False).map(lambda v: round(v, 3))
scores = st.one_of(st.none(), st.fixed_dictionaries({"memorability": score}, optional={"attention_logo": score}))
place = st.tuples(st.sampled_from(ORGS), st.sampled_from(BRANDS), st.sampled_from(CAMPAIGNS))
op = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(ASSETS), place, scores),
    st.tuples(st.just("rescore"), st.sampled_from(ASSETS), scores),
    st.tuples(st.just("move"), st.sampled_from(ASSETS), place),
    st.tuples(st.just("delete"), st.sampled_from(ASSETS)),
)


def apply_op(table, operation) -> None:
    kind, asset = operation[0], operation[1]
    pk, current = f"ASSET#{asset}", table.get(f"ASSET#{asset}", "METADATA")
    if kind == "create":
        (org, brand, campaign), sc = operation[2], operation[3]
        item = {"PK": pk, "SK": "METADATA", "org": org, "brand": brand, "campaign": campaign}
        if sc:
            item["scores"] = sc
        table.put(item)
    elif kind == "rescore" and current is not None:
        if operation[2]:
            table.update(pk, "METADATA", set={"scores": operation[2]})
        else:
            table.update(pk, "METADATA", remove=["scores"])
    elif kind == "move" and current is not None:
        org, brand, campaign = operation[2]
        table.update(pk, "METADATA", set={"org": org, "brand": brand, "campaign": campaign})
    elif kind == "delete":
        table.delete(pk, "METADATA")


class Crash(Exception):
    pass


def deliver_unreliably(table, consumer, after, rng: random.Random):
    """At-least-once delivery: batches retried from earlier points, crashes before commit."""
    records = table.read_stream(after=after, limit=10_000)
    i = 0
    while i < len(records):
        crash = rng.random() < 0.2

        def before_commit(crash=crash):
            if crash:
                raise Crash

        try:
            consumer.apply(records[i], before_commit=before_commit)
        except Crash:
            continue  # the same record comes again
        if rng.random() < 0.25:
            i = rng.randint(max(0, i - 3), i)  # a batch retried from an earlier record
        else:
            i += 1
    return records[-1].position if records else after


def assert_aggregates_match(table) -> None:
    assets = list(iterate_assets(table))
    expected = recompute(assets)
    for org in ORGS:
        got = read_aggregates(table, org)
        for key in set(got) | {k for k in expected if k[0] == f"ORG#{org}"}:
            g, e = got.get(key, {}), expected.get(key, {})
            for attr in set(g) | set(e):
                assert g.get(attr, 0) == e.get(attr, 0), (key, attr, g, e)  # exact: integer sums


def iterate_assets(table):
    for asset in ASSETS:
        item = table.get(f"ASSET#{asset}", "METADATA")
        if item is not None:
            yield item


def run_property(table, operations, seed) -> None:
    rng = random.Random(seed)
    consumer = AggregateConsumer(table)
    after = None
    for chunk_start in range(0, len(operations), 4):
        for operation in operations[chunk_start : chunk_start + 4]:
            apply_op(table, operation)
        after = deliver_unreliably(table, consumer, after, rng)
        assert_aggregates_match(table)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(op, max_size=24), seed=st.integers(0, 2**16))
def test_aggregates_equal_recomputed_values_on_sqlite(tmp_path_factory, operations, seed):
    run_property(make_table("sqlite", tmp_path_factory.mktemp("agg")), operations, seed)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(op, max_size=12), seed=st.integers(0, 2**16))
def test_aggregates_equal_recomputed_values_on_dynamodb(aws_endpoint, tmp_path_factory, operations, seed):
    run_property(make_table("dynamodb", tmp_path_factory.mktemp("agg"), aws_endpoint), operations, seed)


def test_moving_an_asset_to_another_client_moves_its_contribution(table):
    table.put(
        {"PK": "ASSET#1", "SK": "METADATA", "org": "o1", "brand": "b", "campaign": "c", "scores": {"memorability": 0.8}}
    )
    consumer = AggregateConsumer(table)
    drain(table, consumer)
    assert read_stats(table.get("ORG#o1", "AGG#BRAND#b"))["memorability"].count == 1
    table.update("ASSET#1", "METADATA", set={"org": "o2"})
    drain(table, consumer)
    assert read_stats(table.get("ORG#o1", "AGG#ORG")) == {}
    stats = read_stats(table.get("ORG#o2", "AGG#BRAND#b#CAMPAIGN#c"))["memorability"]
    assert (stats.count, stats.mean, stats.std) == (1, pytest.approx(0.8), pytest.approx(0.0, abs=1e-7))


def test_drain_resumes_from_its_checkpoint_and_counts_each_record_once(table):
    for i, v in enumerate((0.2, 0.4, 0.9)):
        table.put(
            {
                "PK": f"ASSET#{i}",
                "SK": "METADATA",
                "org": "o",
                "brand": "b",
                "campaign": "c",
                "scores": {"memorability": v},
            }
        )
    consumer = AggregateConsumer(table)
    drain(table, consumer)
    drain(table, consumer)  # nothing new: no double counting
    stats = read_stats(table.get("ORG#o", "AGG#ORG"))["memorability"]
    assert stats.count == 3 and stats.mean == pytest.approx(0.5)
    assert stats.std == pytest.approx(math.sqrt(((0.3**2) + (0.1**2) + (0.4**2)) / 3))
    assert [i["SK"] for i in iterate(table, "ORG#o", KeyRange(begins_with="AGG#"))] == [
        "AGG#BRAND#b",
        "AGG#BRAND#b#CAMPAIGN#c",
        "AGG#ORG",
    ]


def test_markers_of_different_records_land_in_different_partitions(table):
    from impactlens.db.aggregates import TTL_ATTRIBUTE, marker_key

    for i in range(3):
        table.put(
            {"PK": f"ASSET#{i}", "SK": "METADATA", "org": "o", "brand": "b", "campaign": "c", "scores": {"m": 0.5}}
        )
    records = table.read_stream(limit=10)
    consumer = AggregateConsumer(table, clock=lambda: 1_000.0)
    assert all(consumer.apply(r) for r in records)
    keys = [marker_key(r.position) for r in records]
    assert len({pk for pk, _ in keys}) == len(records)
    for pk, sk in keys:
        assert table.get(pk, sk)[TTL_ATTRIBUTE] == 1_000 + 7 * 24 * 3600


def test_drain_leaves_no_markers_behind_once_its_checkpoint_covers_them(table):
    from impactlens.db.aggregates import marker_key

    for i in range(3):
        table.put(
            {"PK": f"ASSET#{i}", "SK": "METADATA", "org": "o", "brand": "b", "campaign": "c", "scores": {"m": 0.5}}
        )
    positions = [r.position for r in table.read_stream(limit=10)]
    drain(table, AggregateConsumer(table))
    assert read_stats(table.get("ORG#o", "AGG#ORG"))["m"].count == 3
    assert [table.get(*marker_key(p)) for p in positions] == [None, None, None]
    drain(table, AggregateConsumer(table))  # the deletions' own records change nothing
    assert read_stats(table.get("ORG#o", "AGG#ORG"))["m"].count == 3


def test_one_drain_reads_past_full_batches_of_other_items_records(table):
    """An expiry sweep's REMOVEs (or a sign-in spray's counters) fill whole batches; the worker's
    drain must read through them in one call, not one batch per poll."""
    for i in range(250):
        table.put({"PK": f"RATE#spray{i}", "SK": "W#0", "n": 1})
    table.put({"PK": "ASSET#late", "SK": "METADATA", "org": "o", "brand": "b", "campaign": "c", "scores": {"m": 0.5}})
    read = drain(table, AggregateConsumer(table), batch=50)
    assert read >= 251
    assert read_stats(table.get("ORG#o", "AGG#ORG"))["m"].count == 1
