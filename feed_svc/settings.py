"""feed_svc settings: its database, feed sizes, the celebrity threshold and read-time limits."""

from __future__ import annotations

from pydantic import Field

from mesh.config import MeshSettings, service_database_replica_url, service_database_url


class FeedSettings(MeshSettings):
    """Settings of feed_svc, from SHUTTER_* variables."""

    database_url: str | None = service_database_url("feed_svc")
    database_replica_url: str | None = service_database_replica_url("feed_svc")
    feed_max_length: int = Field(
        default=800,
        ge=10,
        le=10_000,
        description="Post ids a home feed keeps in Redis; older ones are trimmed away, so this is "
        "also how deep a reader can page.",
    )
    celebrity_follower_threshold: int = Field(
        default=10_000,
        ge=1,
        description="Authors with more followers than this are not fanned out on write; their "
        "recent posts are merged into their followers' feeds at read time.",
    )
    inactive_after_days: float = Field(
        default=7.0,
        gt=0,
        le=365,
        description="Followers who have not read their feed for this long are skipped at "
        "fan-out; their feed is dropped and rebuilt when they come back.",
    )
    author_recent_posts: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Recent post ids kept per author for read-time merges (celebrities, follows).",
    )
    ranked_candidates: int = Field(
        default=500,
        ge=10,
        le=5000,
        description="The newest feed posts a ranked first page scores; the snapshot holds them.",
    )
    ranking_reuse_seconds: int = Field(
        default=30,
        ge=0,
        le=300,
        description="How long a ranked first page reuses the viewer's latest ranking while the "
        "feed's candidates are unchanged, and derives a new one from it when they change (a new "
        "post is placed among the ranked ones at once, a removed one dropped at once; changed "
        "counts and affinities reorder within this time, when every candidate ranks afresh; "
        "each ranking keeps 80-100 % of it at random, so rankings made together are not all "
        "made afresh together); 0 ranks on every first page. At most the snapshot's lifetime.",
    )
    snapshot_ttl_seconds: int = Field(
        default=600,
        ge=10,
        le=86_400,
        description="How long a ranked or explore snapshot lives, so how long its tokens work.",
    )
    explore_window_days: float = Field(
        default=7.0, gt=0, le=90, description="How recent explore's posts are."
    )
    explore_candidates: int = Field(
        default=300, ge=10, le=5000, description="The most popular recent posts explore considers."
    )
    fanout_batch_size: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Followers per fan-out script call (one Redis round trip; the script runs "
        "that long on the server) and per graph_svc stream page (at least 5000).",
    )
    rebuild_lock_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long one reader's feed rebuild holds the per-user lock at most; other "
        "readers of that feed wait for it instead of rebuilding too.",
    )
    peer_deadline_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="The longest feed_svc waits for graph_svc or post_svc on one call.",
    )
    read_model_post_ttl_seconds: int = Field(
        default=2 * 86_400,
        ge=60,
        le=30 * 86_400,
        description="How long the read model keeps a post's served form, counts and tombstone "
        "after it was last written (a post read after that is read through from post_svc again).",
    )
    read_model_author_ttl_seconds: int = Field(
        default=86_400,
        ge=10,
        le=30 * 86_400,
        description="How long the read model keeps an author's summary; profile changes replace "
        "it at once through UserProfileUpdated, this only bounds memory.",
    )
    read_model_flags_ttl_seconds: int = Field(
        default=7 * 86_400,
        ge=60,
        le=90 * 86_400,
        description="How long a viewer's like and save flags are kept after their last change.",
    )
    read_model_flags_listed_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="How far back a viewer's first flags fill has post_svc list every post the "
        "viewer likes, saves or reported (at most 500 of each), so that later reads of posts "
        "that recent ask post_svc nothing. 0: ask for each post's flags as it is read.",
    )
    read_model_flags_max_entries: int = Field(
        default=4000,
        ge=10,
        le=100_000,
        description="Posts a viewer's like (and save) flags hold at most; beyond it the hash "
        "starts again from post_svc's answers.",
    )
    read_model_fill_lock_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long one reader may hold a missing post's read-through lock; readers "
        "of the same post in any process wait for it instead of asking post_svc too.",
    )
    read_model_fill_wait_seconds: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="How long a reader waits for another's read-through before asking itself.",
    )
    read_model_tag_posts: int = Field(
        default=200,
        ge=20,
        le=1000,
        description="How many of a hashtag's newest post ids the read model keeps for its page; "
        "older pages are read from post_svc's hashtag index.",
    )
    read_model_grid_posts: int = Field(
        default=60,
        ge=12,
        le=1000,
        description="How many of an account's newest post ids the read model keeps for its "
        "profile grid; older pages are read from feed_svc's projection.",
    )
    read_model_relations_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        le=30 * 86_400,
        description="How long a viewer's cached relationships to other accounts are kept after "
        "their last fill; graph changes replace them at once, this only bounds memory.",
    )
    read_model_relations_whole_max: int = Field(
        default=5_000,
        ge=0,
        le=10_000,
        description="A viewer following at most this many accounts (and with at most this many "
        "blocks either way) has those ties read whole from graph_svc once, so that looking at "
        "anyone's grid or post for the first time asks graph_svc nothing; beyond it, or 0, "
        "each account's relationship is asked on its first look.",
    )
    read_model_profile_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        le=30 * 86_400,
        description="How long a profile (with its counts) is kept after its fill; every change "
        "of it drops it at once, this only bounds memory.",
    )
