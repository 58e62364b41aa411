"""The capacity model of bench/README.md: measured per-request costs -> machines for a target load.

Every input is a named field with where it comes from; `shutter bench capacity` prints the model
for the defaults (today's measured figures) or for figures given on the command line (the lead's
re-measurements after the read model lands). Arithmetic only: the figures are measured elsewhere
(bench/cost.py's CPU accounting, the scenarios' Redis and memory reports).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Inputs:
    """The load to carry and what each unit of work costs; defaults are today's figures."""

    # The founding documents' load.
    feed_reads_per_second: float = 115_000
    feed_reads_peak_per_second: float = 350_000
    posts_per_day: float = 100_000_000
    # Assumptions (bench/README.md says why).
    post_peak_factor: float = 3.0  # peak posting rate over the day's average
    profile_reads_per_feed_read: float = 0.5  # mixed-edge: 30 profile grids per 60 feeds
    likes_per_post: float = 10.0
    comments_per_post: float = 1.0
    followers_per_post: float = 200.0  # average pushed followers of a post's author
    target_utilisation: float = 0.6  # of each core, so a peak or a lost machine has headroom
    cores_per_machine: int = 32
    cache_miss_rate: float = 0.01  # feed reads that rebuild from PostgreSQL
    daily_active_users: float = 500_000_000
    feed_entries_per_user: float = 800  # feed_max_length
    cached_post_days: float = 2.0  # the read model keeps posts this many days hot
    # Measured (bench/README.md, "Issue 14's targets on the quiet machine, late evening"): CPU
    # ms per request over all processes (notify_svc counted too, left out before), engines mesh
    # on the Reed98 seed, idle 2-core VM, 2026-12-06 22:40-22:55.
    # GetHomeFeed, ranked page of 20, warm, composed in Redis: 0.52 ms (17.3 before the read
    # model, 0.63 earlier in the evening).
    feed_read_cpu_ms: float = 0.52
    # A profile visit: a grid page (ListUserPosts, 0.74 ms warm) and the profile (GetUser, 0.56).
    profile_read_cpu_ms: float = 1.29
    # Writes through the edge, one kind at a time at 10/s, the idle mesh's 6.6 ms per request
    # taken out: a post 33 ms (post_svc 12, feed_svc 7, graph_svc 4, media_svc 4), a like 27.7
    # and a comment 32.7 ms (10 likes a comment: 28).
    post_write_cpu_ms: float = 33.0
    like_cpu_ms: float = 28.0
    fanout_cpu_us_per_follower: float = 25.0  # feed_svc, through the mesh (fan-out at scale)
    photo_cpu_s: float = 0.41  # media job process per 12 MP photo (media_bench)
    # Redis (measured where said).
    # Commands (not round trips: a pipeline counts each) per warm ranked read from the read
    # model: 11.1, INFO stats over a home-feed run (idle commands taken out), 2026-12-06.
    redis_commands_per_feed_read: float = 11.1
    redis_ops_per_core: float = 150_000  # simple commands per second one Redis core serves
    # Script time per follower (INFO commandstats): 11 us on the quiet machine before the
    # fan-out checked separations; the check adds 23 % (34.7 -> 42.8 us, A/B on the loaded one).
    redis_us_per_fanout_follower: float = 13.5
    # A feed of 800 entries (feed_max_length) is a skiplist: 121.4 B per entry measured
    # (MEMORY USAGE); below 128 entries a listpack: 26.2 B (100 entries), 34.6 B on Reed98's.
    redis_bytes_per_feed_entry: float = 121.4
    # The read model's keys of one post, measured on the Reed98 seed (MEMORY USAGE): the
    # serialized view 1 096 B, counts 104 B, media 88 B (author summaries, 134 B, are per author).
    redis_bytes_per_cached_post: float = 1288.0
    redis_memory_per_shard_gb: float = 25.0
    # PostgreSQL.
    pg_statements_per_feed_rebuild: float = 6.0
    pg_statements_per_post: float = 8.0  # posts, media, hashtags, counts, outbox, relay
    pg_statements_per_like: float = 4.0  # like, count, outbox, relay
    pg_statements_per_core: float = 8_000  # simple indexed statements per second per core


def _cores(rate: float, cpu_ms: float) -> float:
    return rate * cpu_ms / 1000


def model(i: Inputs) -> dict[str, Any]:
    """Return the capacity needed, by tier, at the average and at the peak."""
    posts_avg = i.posts_per_day / SECONDS_PER_DAY
    rows: list[dict[str, Any]] = []
    for label, reads, posts in (
        ("average", i.feed_reads_per_second, posts_avg),
        ("peak", i.feed_reads_peak_per_second, posts_avg * i.post_peak_factor),
    ):
        likes = posts * i.likes_per_post
        comments = posts * i.comments_per_post
        profiles = reads * i.profile_reads_per_feed_read
        services = {
            "feed reads": _cores(reads, i.feed_read_cpu_ms),
            "profile reads": _cores(profiles, i.profile_read_cpu_ms),
            "post writes": _cores(posts, i.post_write_cpu_ms),
            "likes and comments": _cores(likes + comments, i.like_cpu_ms),
            "fan-out": posts * i.followers_per_post * i.fanout_cpu_us_per_follower / 1e6,
            "photo processing": posts * i.photo_cpu_s,
        }
        service_cores = sum(services.values())
        # One Python process uses one core at most (the GIL): processes = busy cores / target.
        processes = math.ceil(service_cores / i.target_utilisation)
        redis_cpu = (
            (reads + profiles) * i.redis_commands_per_feed_read / i.redis_ops_per_core
            + posts * i.followers_per_post * i.redis_us_per_fanout_follower / 1e6
        )
        pg_statements = (
            (reads + profiles) * i.cache_miss_rate * i.pg_statements_per_feed_rebuild
            + posts * i.pg_statements_per_post
            + (likes + comments) * i.pg_statements_per_like
        )
        rows.append(
            {
                "load": label,
                "feed_reads_per_second": reads,
                "posts_per_second": round(posts),
                "service_cores": {k: round(v) for k, v in services.items()},
                "service_cores_total": round(service_cores),
                "processes": processes,
                "machines": math.ceil(processes / i.cores_per_machine),
                "redis_cores": round(redis_cpu, 1),
                "redis_shards_for_cpu": math.ceil(redis_cpu / i.target_utilisation),
                "pg_statements_per_second": round(pg_statements),
                "pg_cores": math.ceil(pg_statements / i.pg_statements_per_core),
            }
        )
    feeds_gb = i.daily_active_users * i.feed_entries_per_user * i.redis_bytes_per_feed_entry / 1e9
    posts_gb = i.posts_per_day * i.cached_post_days * i.redis_bytes_per_cached_post / 1e9
    memory = {
        "feeds_gb": round(feeds_gb),
        "cached_posts_gb": round(posts_gb),
        "shards_for_memory": math.ceil((feeds_gb + posts_gb) / i.redis_memory_per_shard_gb),
    }
    return {"inputs": asdict(i), "loads": rows, "redis_memory": memory}
