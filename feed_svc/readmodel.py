"""The read model: what feed_svc serves posts from, in Redis, kept by events (no grpc here).

feed_svc owns it (docs/read-model.md): post_svc stays the source of truth, and feed_svc keeps a
denormalised copy of the viewer-independent part of every post it serves, maintained from
post_svc's, user_svc's and media_svc's events and read through from post_svc on a miss.

Keys (each carries one hash tag, so no command spans two Redis Cluster slots):

- `rm:post:{p:<id>}`: the post's viewer-independent part, a serialized `Post` whose author is
  only `user_id`, with no counts and no viewer flags; `-` marks a deleted post (a tombstone the
  read-through never overwrites, since it writes with NX).
- `rm:user:{u:<id>}`: the author's `UserSummary`, composed into posts at read time, so a
  profile change rewrites one key.
- `rm:n:{p:<id>}`: the counts, `<version>:<likes>:<comments>:<views>` (views: a reel's; a
  value kept before views were counted has no fourth field), the version being how many
  engagement events feed_svc's projection applied (a newer version replaces an older one only).
- `rm:likes:{u:<viewer>}`, `rm:saves:{u:<viewer>}`: the viewer's own flags, a hash of post id
  to `<event id>:<0|1>`, plus the horizon `~h`: a post newer than the horizon that is not in the
  hash is not liked (saved), because every like of it came after the hash existed and events
  write into the hash; older posts not in it are asked of post_svc once. The first such ask
  also has post_svc list every post of the last `flags_listed_seconds` the viewer likes, saves
  or reported, and lowers the horizon to where that list starts: from then on a profile grid or
  a hashtag page of recent posts asks post_svc nothing. Bounded: at most `flags_max_entries`
  fields (then the hash starts again) and `flags_ttl_seconds` idle.
- `rm:hide:{u:<viewer>}`: the accounts the viewer blocked (`b:<id>`) or was blocked by
  (`by:<id>`): their posts are never served to the viewer, even one a fan-out in flight at the
  moment of the block pushed after the block's clean-up; and the posts the viewer reported
  (`p:<post id>`), never served to the viewer again.
- `rm:media:{m:<id>}`: the post a piece of media belongs to (to drop it when it is deleted).
- `rm:lock:{p:<id>}`: one reader across processes reads a missing post through; others wait.
- `rm:rel:{u:<viewer>}`: the viewer's relationships to other accounts as graph_svc answered them
  (a hash of account id to seven 0/1 flags, RELATION_FLAGS; a value of four, written before the
  last three were kept, is read again for a profile), plus the
  generation `~g` that every graph change between the viewer and anyone bumps: a fill writes only
  if the generation is the one it read before asking graph_svc, so an answer taken before a block
  is never written back after the block's invalidation.
- `rm:ties:{u:<viewer>}`: everything the privacy rule needs of the viewer toward every account,
  read whole from graph_svc once (a viewer with at most `relations_whole_max` follows and
  blocks): `~` when whole, `f:<id>` for each account followed, `b:<id>` blocked, `by:<id>`
  blocked by. An account not in it is neither, so a first look at anyone's grid or post asks
  graph_svc nothing. Filled against the generation `~g` as the relationships are, and dropped by
  every graph change of the viewer's (the next look reads it whole again).
- `rm:grid:{u:<owner>}`: the owner's newest post ids (the profile grid), lex-sorted 19-digit
  members, `~` when built and the floor `0000000000000000000` when the list reaches the owner's
  first post; `rm:gridv:{u:<owner>}` its version (bumped by every post created or deleted, so a
  fill taken before a change is not written back); `rm:gridlock:{u:<owner>}` the filler's lock.
- `rm:tag:{t:<tag>}`: a hashtag's newest live post ids, as the grid (built `~`, floor);
  `rm:tagn:{t:<tag>}` how many live posts of each author carry it (`~` marks it read), dropped
  by every post of the tag made or deleted and read again from post_svc; `rm:tagv:{t:<tag>}` the
  version both are filled against; `rm:taglock:{t:<tag>}` the filler's lock.
- `rm:prof:{u:<id>}`: the account's whole profile as user_svc answers it to no viewer (a `User`
  with its three counts, no relationship; the email too when its owner's read filled it), and
  `rm:profv:{u:<id>}` its version, bumped (and the profile dropped) by every change of the
  profile, of its counts (a follow either way, a post) or of the account (suspended, deleted): a
  fill writes only if the version is the one it read before asking user_svc.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import prometheus_client
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from feed_svc import cache as feed_cache
from mesh.batcher import Batcher
from mesh.ids import id_at
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2

TOMBSTONE = b"-"
# How long a fill of posts, authors or counts waits for other readers' wants before asking the
# owner for all of them at once: a cold start's readers arrive together, so one call serves many.
FILL_BATCH_SECONDS = 0.002
# Post fills asked of post_svc at the same time (see ReadModel.__init__).
POST_FILLS_AT_ONCE = 2
# post_svc's BatchGetViewersFlags: viewers per call, posts per viewer.
FLAGS_VIEWERS_MAX = 50
FLAGS_POSTS_MAX = 100
HORIZON = b"~h"
# Viewers whose flags hashes' horizons this process remembers between a read and its fill.
HORIZONS_SEEN_MAX = 10_000
# Why a home feed page was not composed in Redis (the page script's reason): the feed not built,
# celebrities to merge, no latest ranking or its candidates changed (ranked), or something of a
# post of the page not kept (its view, its author's id or summary, its counts, a flag of the
# viewer the hash cannot tell).
FALLBACK_REASONS = (
    "unbuilt",
    "celebrities",
    "unranked",
    "ranking_changed",
    "view",
    "author_id",
    "author",
    "counts",
    "flags",
)
HOME_PAGES = prometheus_client.Counter(
    "shutter_feed_home_pages_total",
    "Home feed pages asked of the page script (every chronological page, a ranked first page) "
    "by mode and outcome: composed in Redis, or why it was read the slower way.",
    ["mode", "outcome"],
)
ZERO_VERSION = "0" * 19
# A post id made by post_svc's clock this much ahead of feed_svc's still counts as older than a
# flags hash created now (so it is asked of post_svc rather than assumed not liked).
CLOCK_MARGIN = timedelta(seconds=5)

# Write one viewer flag. KEYS[1]: the flags hash. ARGV: field (post id), version (19 digits),
# ARGV[1] is the mode.
# "e" (an event): field (post id), version (19 digits), value (0/1), horizon (19 digits, set
# when the hash is created here), ttl seconds, maximum size; the field is replaced unless it
# holds a version at least as new.
# "f" (a fill from the source of truth): horizon, ttl, maximum size, then field/value pairs,
# written only where absent (an event's answer is never overwritten by a fill).
# "w" (a fill that also lists every flag from a post id up): as "f", with two more arguments
# before the pairs: the horizon the reader saw before asking ("" for no hash) and the lower
# horizon the list allows. The horizon is lowered only in the hash the reader saw: one made
# since (an event's, or a restart past the maximum size) may hold events the list predates.
# A hash that would outgrow its maximum size starts again (with a new horizon).
_FLAGS = """
local key = KEYS[1]
if ARGV[1] == 'e' then
  if redis.call('HLEN', key) >= tonumber(ARGV[7]) then redis.call('DEL', key) end
  if redis.call('EXISTS', key) == 0 then redis.call('HSET', key, '~h', ARGV[5]) end
  local old = redis.call('HGET', key, ARGV[2])
  if old and string.sub(old, 1, 19) >= ARGV[3] then return 0 end
  redis.call('HSET', key, ARGV[2], ARGV[3] .. ':' .. ARGV[4])
  redis.call('EXPIRE', key, ARGV[6])
  return 1
end
local first = 5
local seen = redis.call('HGET', key, '~h')
local same = false
if ARGV[1] == 'w' then
  first = 7
  same = (seen or '') == ARGV[5]
end
if redis.call('HLEN', key) + (#ARGV - first + 1) / 2 > tonumber(ARGV[4]) then
  redis.call('DEL', key)
  same = false
end
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, '~h', same and ARGV[6] or ARGV[2])
elseif same and ARGV[6] < seen then
  redis.call('HSET', key, '~h', ARGV[6])
end
for i = first, #ARGV, 2 do
  redis.call('HSETNX', key, ARGV[i], '0000000000000000000:' .. ARGV[i + 1])
end
redis.call('EXPIRE', key, ARGV[3])
return 1
"""

# Write a post's counts unless the key holds a version at least as new. KEYS[1]: the counts key.
# ARGV: version (19 digits), likes, comments, views, ttl seconds.
_COUNTS = """
local old = redis.call('GET', KEYS[1])
if old and string.sub(old, 1, 19) >= ARGV[1] then return 0 end
local value = ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4]
redis.call('SET', KEYS[1], value, 'EX', ARGV[5])
return 1
"""


# Replace a kept post. KEYS[1]: the post key. ARGV: the new value, the tombstone. An absent key
# or a tombstone stays as it is.
_REPLACE = """
local old = redis.call('GET', KEYS[1])
if (not old) or old == ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
"""


# Lua functions that read a kept Post's author id: the Post's field 2 (the user), whose field 1
# is user_id, a varint; its decimal is built in base-1e7 limbs, as Lua numbers are doubles.
# author_of answers nil for what it cannot tell. A kept view is serialized in field order, so
# it nearly always opens with the post id (field 1) and a user holding only the author id: one
# pattern match finds that id's varint bytes, and each distinct author's decimal is made once a
# call (a page has a few authors); any other layout is walked field by field.
_AUTHOR_OF = """
local unpack = unpack or table.unpack
local function varint(s, i)
  local groups = {}
  while true do
    local b = string.byte(s, i)
    if not b then return nil, i end
    i = i + 1
    groups[#groups + 1] = b % 128
    if b < 128 then return groups, i end
  end
end
local function small(groups)
  local v = 0
  for g = #groups, 1, -1 do v = v * 128 + groups[g] end
  return v
end
local function decimal(groups)
  local limbs = {0}
  for g = #groups, 1, -1 do
    local carry = groups[g]
    for k = 1, #limbs do
      local v = limbs[k] * 128 + carry
      limbs[k] = v % 10000000
      carry = math.floor(v / 10000000)
    end
    if carry > 0 then limbs[#limbs + 1] = carry end
  end
  local text = string.format('%d', limbs[#limbs])
  for k = #limbs - 1, 1, -1 do text = text .. string.format('%07d', limbs[k]) end
  return text
end
local function author_walked(view)
  local i, n = 1, #view
  while i <= n do
    local tag
    tag, i = varint(view, i)
    if not tag then return nil end
    tag = small(tag)
    local field, wire = math.floor(tag / 8), tag % 8
    if wire == 2 then
      local size
      size, i = varint(view, i)
      if not size then return nil end
      size = small(size)
      if field == 2 then
        local user = string.sub(view, i, i + size - 1)
        local j = 1
        while j <= #user do
          local t
          t, j = varint(user, j)
          if not t then return nil end
          t = small(t)
          if t == 8 then
            local id = varint(user, j)
            return id and decimal(id)
          end
          if t % 8 == 0 then
            local _
            _, j = varint(user, j)
            if not _ then return nil end
          else
            return nil
          end
        end
        return nil
      end
      i = i + size
    elseif wire == 0 then
      local _
      _, i = varint(view, i)
      if not _ then return nil end
    elseif wire == 1 then i = i + 8
    elseif wire == 5 then i = i + 4
    else return nil end
  end
  return nil
end
local decimals = {}
local function author_of(view)
  local raw = string.match(
    view, '^\\8[\\128-\\255]*[%z\\1-\\127]\\18[\\2-\\127]\\8([\\128-\\255]*[%z\\1-\\127])')
  if not raw then return author_walked(view) end
  local found = decimals[raw]
  if not found then
    local groups = {}
    for k = 1, #raw do groups[k] = string.byte(raw, k) % 128 end
    found = decimal(groups)
    decimals[raw] = found
  end
  return found
end
"""

# Read what a home feed page is composed from, in one call (a single Redis only: the keys of the
# posts and their authors are built here, not declared, so never on a cluster). KEYS: the
# viewer's likes, saves and hidden keys. ARGV: the post ids. Answers the posts, their counts, the
# like and save flags (horizon first, as _read asks), the hidden set, and the summaries of the
# posts' authors as id/summary pairs: the author's id is read from the kept Post (field 2, the
# user, whose field 1 is user_id, a varint), its decimal built in base-1e7 limbs as Lua numbers
# are doubles. An author this cannot tell is read by feed_svc as before.
_READ_PAGE = (
    _AUTHOR_OF
    + """
local posts, counts, fields = {}, {}, {'~h'}
for k = 1, #ARGV do
  posts[k] = 'rm:post:{p:' .. ARGV[k] .. '}'
  counts[k] = 'rm:n:{p:' .. ARGV[k] .. '}'
  fields[k + 1] = ARGV[k]
end
local views = redis.call('MGET', unpack(posts))
local seen, authors = {}, {}
for k = 1, #ARGV do
  local view = views[k]
  if view and view ~= '-' then
    local author = author_of(view)
    if author and not seen[author] then
      seen[author] = true
      authors[#authors + 1] = author
    end
  end
end
local found = {}
if #authors > 0 then
  local keys = {}
  for k = 1, #authors do keys[k] = 'rm:user:{u:' .. authors[k] .. '}' end
  local summaries = redis.call('MGET', unpack(keys))
  for k = 1, #authors do
    found[#found + 1] = authors[k]
    found[#found + 1] = summaries[k]
  end
end
return {
  views,
  redis.call('MGET', unpack(counts)),
  redis.call('HMGET', KEYS[1], unpack(fields)),
  redis.call('HMGET', KEYS[2], unpack(fields)),
  redis.call('SMEMBERS', KEYS[3]),
  found,
}
"""
)


# A Lua function that composes a page of posts as the viewer sees them, from the kept bytes,
# without parsing them into messages (a single Redis only, as _READ_PAGE): compose(ids, likes
# key, saves key, hidden key) answers the page as the bytes of a response's `repeated Post posts
# = 1` field, or nil and the reason (one of FALLBACK_REASONS) when any post of the page lacks
# something only feed_svc's read path can get (a view, its author's summary, its counts, a flag
# the hash cannot tell): then the caller reads the page as before, through _READ_PAGE. Each
# post is its kept view (author id only, no counts, no flags) followed by the author's summary
# as field 2 again, then the counts (8, 9, 15) and the flags (11, 12) when not zero: a parser
# merges a message field that appears twice and keeps the last value of a scalar, so the
# result parses as the composed Post, and the kept view never holds counts or flags
# (_independent). Deleted posts and posts of accounts or posts hidden from the viewer are left
# out, as ReadModel.posts leaves them out.
_COMPOSE = r"""
local function put_varint(n)
  if n < 128 then return string.char(n) end
  local out = {}
  while n >= 128 do
    local low = n % 128
    out[#out + 1] = string.char(low + 128)
    n = (n - low) / 128
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end
local function count_field(tag, text)
  if text == '0' then return '' end
  -- Counts are exact doubles far beyond any real count; a longer one is left to feed_svc.
  if #text > 15 then return nil end
  local n = tonumber(text)
  if n == 0 then return '' end
  return tag .. put_varint(n)
end
local function flag(raw, id, horizon)
  if raw then return string.sub(raw, -1) == '1' end
  if horizon and string.rep('0', 19 - #id) .. id > horizon then return false end
  return nil
end
local function compose(ids, likes_key, saves_key, hide_key)
  if #ids == 0 then return '' end
  local posts, counts, fields = {}, {}, {'~h'}
  for k = 1, #ids do
    posts[k] = 'rm:post:{p:' .. ids[k] .. '}'
    counts[k] = 'rm:n:{p:' .. ids[k] .. '}'
    fields[k + 1] = ids[k]
  end
  local views = redis.call('MGET', unpack(posts))
  local hidden = {}
  for _, entry in ipairs(redis.call('SMEMBERS', hide_key)) do hidden[entry] = true end
  local authors, slots, keys = {}, {}, {}
  for k = 1, #ids do
    local view = views[k]
    if not view then return nil, 'view' end
    if view ~= '-' and not hidden['p:' .. ids[k]] then
      local author = author_of(view)
      if not author then return nil, 'author_id' end
      if not (hidden['b:' .. author] or hidden['by:' .. author]) then
        authors[k] = author
        if not slots[author] then
          keys[#keys + 1] = 'rm:user:{u:' .. author .. '}'
          slots[author] = #keys
        end
      end
    end
  end
  local summaries = {}
  if #keys > 0 then summaries = redis.call('MGET', unpack(keys)) end
  local nums = redis.call('MGET', unpack(counts))
  local liked = redis.call('HMGET', likes_key, unpack(fields))
  local saved = redis.call('HMGET', saves_key, unpack(fields))
  local out, done = {}, {}
  for k = 1, #ids do
    local author = authors[k]
    if author and not done[ids[k]] then
      done[ids[k]] = true
      local summary, value = summaries[slots[author]], nums[k]
      if not summary then return nil, 'author' end
      if not value then return nil, 'counts' end
      local like = flag(liked[k + 1], ids[k], liked[1])
      local save = flag(saved[k + 1], ids[k], saved[1])
      if like == nil or save == nil then return nil, 'flags' end
      local likes, comments, plays = string.match(value, '^[^:]*:(%d+):(%d+):?(%d*)$')
      if not likes then return nil, 'counts' end
      local a, b = count_field('@', likes), count_field('H', comments)
      local c = count_field('x', plays == '' and '0' or plays)
      if not (a and b and c) then return nil, 'counts' end
      -- The pieces go into one table, joined once at the end: no string per post is made
      -- (Lua copies and interns every string it makes).
      local head = put_varint(#summary)
      local likes_on, saves_on = like and 'X\1' or '', save and '`\1' or ''
      local size = #views[k] + 1 + #head + #summary + #a + #b + #c + #likes_on + #saves_on
      local m = #out
      out[m + 1], out[m + 2], out[m + 3], out[m + 4] = '\10', put_varint(size), views[k], '\18'
      out[m + 5], out[m + 6], out[m + 7], out[m + 8] = head, summary, a, b
      out[m + 9], out[m + 10], out[m + 11] = c, likes_on, saves_on
    end
  end
  return table.concat(out)
end
"""

# A home feed page in one call, on a single Redis: read the feed as FeedCache does (mark the
# viewer active; built, celebrities, ids; for a ranked first page the latest ranking, compared
# in Redis), and when the page is known from that alone (the feed built, no celebrities to
# merge, and for a ranked page the ranking still current) compose it (_COMPOSE). KEYS: the
# viewer's seen, feed, celebs, ranking, likes, saves and hidden keys. ARGV: 'r' (a ranked first
# page) or 'c' (chronological), seen ttl, how many ids to read, '1' to read the ranking (ranked)
# or the upper bound (chronological), the page size. Answers {'page', posts, more (0/1),
# cursor}, the cursor being the ranking's snapshot id or the page's last member; or, when the
# page is not composed here, {'read', reason, the feed read's own answer (READ_RANKED_LUA's or
# READ_FEED_LUA's)}, the reason one of FALLBACK_REASONS.
_HOME_PAGE = (
    _AUTHOR_OF
    + _COMPOSE
    + feed_cache.READ_RANKED_LUA
    + feed_cache.READ_FEED_LUA
    + """
local size = tonumber(ARGV[5])
local function unread(found)
  if found[1] ~= 1 then return 'unbuilt' end
  if #found[2] > 0 then return 'celebrities' end
  return nil
end
if ARGV[1] == 'r' then
  local found = read_ranked(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3], ARGV[4])
  if found[5] ~= 1 then
    return {'read', unread(found) or (found[4] and 'ranking_changed' or 'unranked'), found}
  end
  local head = found[4]
  local bar = string.find(head, '|', 1, true)
  local page, more = {}, 0
  for id in string.gmatch(string.sub(head, bar + 1), '[^,]+') do
    if #page == size then
      more = 1
      break
    end
    page[#page + 1] = id
  end
  local posts, reason = compose(page, KEYS[5], KEYS[6], KEYS[7])
  if not posts then return {'read', reason, found} end
  return {'page', posts, more, string.sub(head, 1, bar - 1)}
end
local found = read_feed(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[4], ARGV[3])
local why = unread(found)
if why then return {'read', why, found} end
local ids, page = found[3], {}
for k = 1, math.min(size, #ids) do page[k] = string.match(ids[k], '^0*(%d+)$') end
local posts, reason = compose(page, KEYS[5], KEYS[6], KEYS[7])
if not posts then return {'read', reason, found} end
return {'page', posts, #ids > size and 1 or 0, #page > 0 and ids[#page] or ''}
"""
)


def post_key(post_id: int) -> str:
    """Return the key of a post's viewer-independent part."""
    return f"rm:post:{{p:{post_id}}}"


def counts_key(post_id: int) -> str:
    """Return the key of a post's like, comment and view counts."""
    return f"rm:n:{{p:{post_id}}}"


def applied_key(post_id: int, producer: str, event_id: int) -> str:
    """Return the key marking an engagement event on a post as applied in full (database and
    read model), beside the post's other keys."""
    return f"rm:done:{{p:{post_id}}}:{producer}:{event_id}"


def lock_key(post_id: int) -> str:
    """Return the key of the lock one reader holds while reading a post through."""
    return f"rm:lock:{{p:{post_id}}}"


def author_key(user_id: int) -> str:
    """Return the key of an account's summary as posts show it."""
    return f"rm:user:{{u:{user_id}}}"


def likes_key(viewer_id: int) -> str:
    """Return the key of a viewer's like flags."""
    return f"rm:likes:{{u:{viewer_id}}}"


def saves_key(viewer_id: int) -> str:
    """Return the key of a viewer's save flags."""
    return f"rm:saves:{{u:{viewer_id}}}"


def hidden_key(viewer_id: int) -> str:
    """Return the key of the accounts a viewer blocked or was blocked by."""
    return f"rm:hide:{{u:{viewer_id}}}"


def media_key(media_id: int) -> str:
    """Return the key naming the post a piece of media is part of."""
    return f"rm:media:{{m:{media_id}}}"


def relations_key(viewer_id: int) -> str:
    """Return the key of a viewer's cached relationships to other accounts."""
    return f"rm:rel:{{u:{viewer_id}}}"


def ties_key(viewer_id: int) -> str:
    """Return the key of a viewer's ties read whole (follows and blocks either way)."""
    return f"rm:ties:{{u:{viewer_id}}}"


def grid_key(owner_id: int) -> str:
    """Return the key of an account's newest post ids (its profile grid)."""
    return f"rm:grid:{{u:{owner_id}}}"


def grid_version_key(owner_id: int) -> str:
    """Return the key of the version of an account's grid (bumped by each post made or deleted)."""
    return f"rm:gridv:{{u:{owner_id}}}"


def profile_key(user_id: int) -> str:
    """Return the key of an account's whole profile with its counts."""
    return f"rm:prof:{{u:{user_id}}}"


def profile_version_key(user_id: int) -> str:
    """Return the key of the version of an account's profile (bumped by each change of it)."""
    return f"rm:profv:{{u:{user_id}}}"


def grid_lock_key(owner_id: int) -> str:
    """Return the key of the lock one filler of an account's grid holds."""
    return f"rm:gridlock:{{u:{owner_id}}}"


def tag_key(tag: str) -> str:
    """The key of a hashtag's index: its newest live post ids."""
    return f"rm:tag:{{t:{tag}}}"


def tag_version_key(tag: str) -> str:
    """The key of a hashtag index's version, bumped by every post of the tag made or deleted."""
    return f"rm:tagv:{{t:{tag}}}"


def tag_authors_key(tag: str) -> str:
    """The key of a hashtag's authors: how many live posts of each carry the tag."""
    return f"rm:tagn:{{t:{tag}}}"


def tag_lock_key(tag: str) -> str:
    """The key of the lock of the one reader filling a hashtag's index."""
    return f"rm:taglock:{{t:{tag}}}"


# How long an engagement event applied through ApplyEvents is remembered as applied: longer
# than the bus takes to deliver it, or to hand a dead consumer's events over; a later delivery
# is applied in full, which is idempotent, only dearer.
APPLIED_TTL_SECONDS = 600


def _version(value: int) -> str:
    return f"{value:019d}"


GENERATION = "~g"
GRID_BUILT = "~"
GRID_FLOOR = "0" * 19
_GRID_TOP = "(~"
# The relationship flags a cached answer holds, in order (the first four are what feeds and the
# privacy rule read; the last three only profiles, kept since profiles moved here).
RELATION_FLAGS = (
    "following",
    "blocking",
    "blocked_by",
    "muting",
    "followed_by",
    "requested",
    "incoming_request",
)

# Keep a viewer's ties read whole from graph_svc, unless a graph change came since they were
# asked. KEYS: the viewer's relationships hash (its generation), the ties set. ARGV: the
# generation read before asking ('' when none), ttl seconds, then the members ('~' first).
_TIES_FILL = """
local generation = redis.call('HGET', KEYS[1], '~g') or ''
if generation ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 1000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# Write relationships read from graph_svc, unless a graph change came since they were asked.
# KEYS[1]: the viewer's relationships hash. ARGV: the generation read before asking ('' when
# none), ttl seconds, then account/flags pairs.
_RELATIONS_FILL = """
local generation = redis.call('HGET', KEYS[1], '~g') or ''
if generation ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Install a profile read from user_svc, unless it changed since the version was read. KEYS: the
# profile, its version. ARGV: the version read before ('' when none), the profile, ttl.
_PROFILE_FILL = """
local version = redis.call('GET', KEYS[2]) or ''
if version ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# A post made or deleted: bump the list's version and, if the list is built, add or take out the
# post (keeping at most ARGV[2] members; the floor goes first when it overflows: the list no
# longer reaches the first post), then delete any further keys given (a tag's author counts:
# the next reader reads them again from post_svc, as a count kept by increments would count a
# redelivered event twice). Serves an author's grid and a tag's index alike. KEYS: the list, its
# version, keys to drop. ARGV: member, keep, '1' to add or '0' to remove, ttl of the version.
_GRID_CHANGE = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
if redis.call('ZSCORE', KEYS[1], '~') then
  if ARGV[3] == '1' then
    redis.call('ZADD', KEYS[1], 0, ARGV[1])
    if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[2]) then
      redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
    end
  else
    redis.call('ZREM', KEYS[1], ARGV[1])
  end
end
return 1
"""

# Install a grid read from the projection, unless a post was made or deleted since it was read.
# KEYS: the grid, its version. ARGV: the version read before ('' when none), ttl, members.
_GRID_FILL = """
local version = redis.call('GET', KEYS[2]) or ''
if version ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[1], 0, '~')
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


# Install a tag's index and authors read from post_svc, unless a post of the tag was made or
# deleted since. KEYS: the index, its version, its authors. ARGV: the version read before ('' when
# none), ttl, how many index members follow (0: keep the index, the authors only), the members,
# then author/count pairs.
_TAG_FILL = """
local version = redis.call('GET', KEYS[2]) or ''
if version ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[3])
if n > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[1], 0, '~')
  for i = 4, 3 + n do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], '~', '0')
for i = 4 + n, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Access:
    """What a viewer may see of one account: its summary, and whether either blocked the
    other or the viewer may see its posts."""

    summary: user_pb2.UserSummary
    blocked: bool
    can_view: bool


def _pack(relation: Any) -> str:
    return "".join(
        "1" if relation is not None and getattr(relation, f) else "0" for f in RELATION_FLAGS
    )


async def _nothing() -> list[Any]:
    return [None]


WHOLE = "~"  # the ties set's mark: read whole
# The ties set's member prefixes, in the order of the first three RELATION_FLAGS.
_TIE_KINDS = ("f", "b", "by")


def _access_flags(following: bool, blocking: bool, blocked_by: bool) -> str:
    """Return what decide() reads of a packed relationship (the first three flags; the rest,
    which only profiles show, are not known from the ties and are never kept from here)."""
    return "".join("1" if f else "0" for f in (following, blocking, blocked_by)) + "0" * (
        len(RELATION_FLAGS) - 3
    )


def _tied(others: list[int], raw_ties: list[Any], owners: list[int]) -> dict[int, str]:
    """Return the packed access flags of these owners from the ties set's SMISMEMBER answer
    (the mark, then each of `others`' three members)."""
    at = {o: 1 + 3 * i for i, o in enumerate(others)}
    return {o: _access_flags(*(bool(raw_ties[at[o] + k]) for k in range(3))) for o in owners}


def decide(viewer: int, summary: user_pb2.UserSummary, packed: str) -> Access:
    """Apply the privacy rule (graph_svc's, from cached facts): the owner sees their own; a block
    either way hides everything; a private account only its approved followers."""
    if viewer and summary.user_id == viewer:
        return Access(summary, blocked=False, can_view=True)
    following, blocking, blocked_by = packed[0] == "1", packed[1] == "1", packed[2] == "1"
    if blocking or blocked_by:
        return Access(summary, blocked=True, can_view=False)
    return Access(summary, blocked=False, can_view=not summary.is_private or following)


class FlagsWanted(NamedTuple):
    """A viewer's flags asked of post_svc: on these posts, and with `since` > 0 on every post
    from that id up as well."""

    viewer: int
    post_ids: Sequence[int]
    since: int = 0


class ViewerFlags(NamedTuple):
    """What post_svc answered of a viewer's flags: the posts the viewer likes, saves and
    reported among those asked and those listed, and the post id from which the answer lists
    every one of them (0: only the posts asked are answered)."""

    liked: set[int]
    saved: set[int]
    hidden: set[int]
    listed_since: int = 0


class Source(Protocol):
    """post_svc, the source of truth the read model reads through: the posts as every viewer
    sees them (BatchGetSharedPosts) and several viewers' flags (BatchGetViewersFlags)."""

    async def shared_posts(self, post_ids: Sequence[int]) -> list[post_pb2.Post]: ...
    async def viewers_flags(self, wanted: Sequence[FlagsWanted]) -> list[ViewerFlags]:
        """Return each entry's flags, in the order given (at most FLAGS_VIEWERS_MAX entries of
        at most FLAGS_POSTS_MAX posts)."""
        ...


class Directory(Protocol):
    """user_svc's account summaries."""

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]: ...


class Profiles(Protocol):
    """user_svc's GetUser, the source of truth of whole profiles."""

    async def profile(
        self, *, user_id: int = 0, username: str = "", viewer_id: int
    ) -> user_pb2.User:
        """Return the profile as `viewer_id` sees it (0: no viewer); NOT_FOUND passes on."""
        ...


@dataclass(frozen=True)
class Ties:
    """Everything the privacy rule needs of a viewer toward every account: whom the viewer
    follows, blocked and was blocked by (any account in none of them is none of these)."""

    following: frozenset[int]
    blocking: frozenset[int]
    blocked_by: frozenset[int]


class Relations(Protocol):
    """graph_svc's relationships of a viewer to accounts (each answer has RELATION_FLAGS)."""

    async def relations(self, viewer_id: int, user_ids: Sequence[int]) -> dict[int, Any]: ...

    async def ties(self, viewer_id: int, *, limit: int) -> Ties | None:
        """Return the viewer's ties whole, or None when there are more than `limit` follows or
        more than `limit` blocks."""
        ...


class PostList(Protocol):
    """feed_svc's projection of who posted what (kept from post events)."""

    async def author_posts(self, author_id: int, *, before: int | None, limit: int) -> list[int]:
        """Return an author's newest live post ids older than `before`, newest first."""
        ...


class TagIndex(Protocol):
    """post_svc's hashtag index (the source of truth), whoever the authors are."""

    async def tag_posts(
        self, tag: str, *, before: int | None, limit: int, with_authors: bool
    ) -> tuple[list[int], dict[int, int]]:
        """Return up to `limit` ids of the tag's live posts older than `before`, newest first,
        and (with_authors) how many live posts of each author carry it."""
        ...


class Counter(Protocol):
    """feed_svc's own projection of the counts (exact, kept from events)."""

    async def counts(self, post_ids: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
        """Return (version, likes, comments, views) of each of these posts that has any."""
        ...


@dataclass(frozen=True)
class HomePage:
    """A home feed page composed in Redis: the posts as the bytes of a response's `repeated Post
    posts = 1` field, whether more follow, and the cursor of the next page (a ranked page: its
    ranking's snapshot id; a chronological page: its last post id, 0 when empty)."""

    posts: bytes
    more: bool
    cursor: str


@dataclass(frozen=True)
class Limits:
    """How long and how much the read model keeps."""

    post_ttl_seconds: int
    author_ttl_seconds: int
    flags_ttl_seconds: int
    flags_max_entries: int
    fill_lock_seconds: float
    fill_wait_seconds: float
    flags_listed_seconds: int = 30 * 86_400
    grid_posts: int = 60
    relations_ttl_seconds: int = 86_400
    relations_whole_max: int = 5_000
    tag_posts: int = 200
    profile_ttl_seconds: int = 86_400


# An entry of the viewer's hidden set: an account's id (blocked either way) or ("p", post id).
Hidden = int | tuple[str, int]


def _hidden_entry(raw: bytes) -> Hidden:
    kind, _, value = raw.partition(b":")
    return ("p", int(value)) if kind == b"p" else int(value)


def _recent_since(horizons: tuple[bytes | None, bytes | None] | None, floor: int) -> int:
    """Return the post id from which to have a viewer's flags listed along with a fill: `floor`
    unless both of the viewer's hashes already reach back that far (or the read that asked was
    not seen, or no floor: then the fill asks only its posts)."""
    if horizons is None or floor <= 0:
        return 0
    if all(h is not None and int(h) <= floor for h in horizons):
        return 0
    return floor


def _flag(raw: bytes | None, post_id: int, horizon: int | None) -> bool | None:
    """Return a flag from its hash field: None when the hash cannot tell (ask post_svc)."""
    if raw is not None:
        return raw[-1:] == b"1"
    if horizon is not None and post_id > horizon:
        return False
    return None


class ReadModel:
    """Posts as feed_svc serves them: composed from Redis, read through on a miss."""

    def __init__(
        self,
        client: aioredis.Redis | Any,
        *,
        source: Source,
        directory: Directory,
        counter: Counter,
        limits: Limits,
        graph: Relations | None = None,
        post_list: PostList | None = None,
        tags: TagIndex | None = None,
        profiles: Profiles | None = None,
        clock: Any = lambda: datetime.now(UTC),
    ) -> None:
        self._graph = graph
        self._profiles = profiles
        self._profile_fill = client.register_script(_PROFILE_FILL)
        self._post_list = post_list
        self._tags = tags
        self._tag_fill = client.register_script(_TAG_FILL)
        self._relations_fill = client.register_script(_RELATIONS_FILL)
        self._ties_fill = client.register_script(_TIES_FILL)
        self._grid_change = client.register_script(_GRID_CHANGE)
        self._grid_fill = client.register_script(_GRID_FILL)
        self._redis: Any = client
        self._cluster = isinstance(client, aioredis.RedisCluster)
        self._source = source
        self._directory = directory
        self._counter = counter
        self._limits = limits
        self._clock = clock
        self._flags = client.register_script(_FLAGS)
        self._counts = client.register_script(_COUNTS)
        self._replace = client.register_script(_REPLACE)
        self._read_page = client.register_script(_READ_PAGE)
        self._home_page = client.register_script(_HOME_PAGE)
        self.fills = 0  # posts read through from post_svc by this process (tests, metrics)
        self.flag_fills = 0  # viewers' flags read from post_svc by this process (tests)
        # The horizons (likes, saves) each viewer's read saw in its flags hashes, until its fill
        # asks post_svc: whether to have the viewer's recent flags listed, and into which hash.
        self._horizons_seen: dict[int, tuple[bytes | None, bytes | None]] = {}
        self.ties_fills = 0  # viewers' ties read whole from graph_svc by this process (tests)
        # Fills in this process, batched across readers (Batcher). Posts are shared as
        # serialized views, so each reader composes its own copy.
        # A post fill may wait up to fill_wait_seconds for posts another process is filling:
        # two at once, so that one such wait does not hold every other reader's posts back.
        self._post_fills = Batcher(
            self._fill_views_locked, window=FILL_BATCH_SECONDS, at_once=POST_FILLS_AT_ONCE
        )
        self._author_fills = Batcher(self._fetch_authors, window=FILL_BATCH_SECONDS)
        self._count_fills = Batcher(self._fetch_counts, window=FILL_BATCH_SECONDS)
        # Keyed by (viewer, post): the flags of every viewer read at the same moment in one call.
        self._flag_fills: Batcher[tuple[int, int]] = Batcher(
            self._fetch_flags, window=FILL_BATCH_SECONDS, most=FLAGS_VIEWERS_MAX * 20
        )
        self.grid_fills = 0  # grids built from the projection by this process (tests)
        self.tag_fills = 0  # tag indexes or authors read from post_svc by this process (tests)
        self.profile_fills = 0  # profiles read through from user_svc by this process (tests)

    # -- reading -------------------------------------------------------------------------------

    async def drop_views(self) -> int:
        """Forget every post view, count and author summary; each is read through from its
        owner on its next read. Return how many keys went."""
        dropped = 0
        for pattern in ("rm:post:*", "rm:n:*", "rm:user:*"):
            async for key in self._redis.scan_iter(match=pattern, count=1000):
                dropped += int(await self._redis.unlink(key))
        return dropped

    async def _mget(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        if self._cluster:
            return list(await self._redis.mget_nonatomic(keys))
        return list(await self._redis.mget(keys))

    async def _read(
        self, viewer: int, post_ids: list[int]
    ) -> tuple[list[Any], list[Any], list[Any], list[Any], set[Hidden], dict[int, Any]]:
        """One round trip: the posts, their counts, the viewer's flags, what is hidden from the
        viewer and (on a single Redis) the summaries kept of the posts' authors (raw, None when
        not kept; an author left out is read as before)."""
        fields: list[bytes | str] = [HORIZON, *(str(p) for p in post_ids)]
        if self._cluster:
            views, counts = await asyncio.gather(
                self._mget([post_key(p) for p in post_ids]),
                self._mget([counts_key(p) for p in post_ids]),
            )
            # One slot (the viewer's): one transaction-free pipeline on its node.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(likes_key(viewer), fields)
                pipe.hmget(saves_key(viewer), fields)
                pipe.smembers(hidden_key(viewer))
                liked, saved, hidden = await pipe.execute()
            authors: dict[int, Any] = {}
        else:
            views, counts, liked, saved, hidden, pairs = await self._read_page(
                keys=[likes_key(viewer), saves_key(viewer), hidden_key(viewer)], args=post_ids
            )
            authors = {int(pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}
        return views, counts, liked, saved, {_hidden_entry(h) for h in hidden}, authors

    @property
    def composes(self) -> bool:
        """Whether home feed pages are composed in Redis (home_page): a single Redis only, as
        the script builds the keys it reads."""
        return not self._cluster

    async def home_page(
        self,
        viewer: int,
        *,
        ranked: bool,
        seen_ttl: int,
        count: int,
        size: int,
        before: int | None = None,
        ranking: bool = True,
    ) -> HomePage | list[Any]:
        """Read a viewer's feed and compose its page of `size` posts in one round trip (a
        ranked first page: `count` candidates and the latest ranking, reused when still
        current; chronological: `count` ids below `before`). Answers the page, or, when it
        cannot be composed in Redis (the feed not built, celebrities to merge, the ranking
        stale, something of a post not kept), the feed read's raw answer for
        feed_cache.ranked_answer / feed_cache.feed_answer, and the caller goes on from it."""
        keys = [
            feed_cache.seen_key(viewer),
            feed_cache.feed_key(viewer),
            feed_cache.celebs_key(viewer),
            feed_cache.ranking_key(viewer),
            likes_key(viewer),
            saves_key(viewer),
            hidden_key(viewer),
        ]
        fourth = ("1" if ranking else "0") if ranked else feed_cache.feed_top(before)
        mode = "ranked" if ranked else "chronological"
        raw = await self._home_page(
            keys=keys, args=["r" if ranked else "c", seen_ttl, count, fourth, size]
        )
        if raw[0] != b"page":
            HOME_PAGES.labels(mode, raw[1].decode()).inc()
            return list(raw[2])
        HOME_PAGES.labels(mode, "composed").inc()
        cursor = raw[3].decode()
        return HomePage(posts=raw[1], more=raw[2] == 1, cursor=cursor)

    async def posts(
        self,
        viewer: int,
        post_ids: Sequence[int],
        *,
        check_access: bool = False,
        known: dict[int, Access] | None = None,
    ) -> list[post_pb2.Post]:
        """Return these posts as the viewer (0: nobody signed in, public accounts only) sees
        them, in order, leaving out deleted ones and ones post_svc no longer shows the viewer
        when it was asked (on a miss). With `check_access` the privacy rule is applied to every
        author (from cached relationships); `known` gives authors already checked."""
        ids = list(dict.fromkeys(post_ids))
        if not ids:
            return []
        raw_views, raw_counts, liked_raw, saved_raw, hidden, kept = await self._read(viewer, ids)
        like_h = int(liked_raw[0]) if liked_raw[0] is not None else None
        save_h = int(saved_raw[0]) if saved_raw[0] is not None else None
        views: dict[int, post_pb2.Post] = {}
        flags: dict[int, tuple[bool, bool]] = {}
        ask: list[int] = []  # posts whose view or flags only post_svc can give
        missing_views: list[int] = []
        for i, post_id in enumerate(ids):
            raw = raw_views[i]
            if raw == TOMBSTONE or ("p", post_id) in hidden:
                continue  # a hidden post is never shown: nothing of it is asked
            if viewer:
                like = _flag(liked_raw[i + 1], post_id, like_h)
                save = _flag(saved_raw[i + 1], post_id, save_h)
            else:
                like = save = False
            if raw is None:
                missing_views.append(post_id)
            else:
                views[post_id] = post_pb2.Post.FromString(raw)
            if like is None or save is None:
                ask.append(post_id)
            else:
                flags[post_id] = (like, save)
        if missing_views or ask:
            seen = (liked_raw[0], saved_raw[0])
            await self._read_through(viewer, missing_views, ask, views, flags, seen)
        author_ids = list(dict.fromkeys(v.user.user_id for v in views.values()))
        authors: dict[int, user_pb2.UserSummary]
        if check_access or known:
            given = known or {}
            checked = {
                **given,
                **await self.access(viewer, [a for a in author_ids if a not in given]),
            }
            authors = {a: c.summary for a, c in checked.items() if c.can_view}
        else:
            authors = await self._authors(author_ids, kept)
        counts = self._parse_counts(ids, raw_counts)
        lacking = [p for p in views if p not in counts]
        if lacking:
            counts.update(await self._fill_counts(lacking))
        answer: list[post_pb2.Post] = []
        for post_id in ids:
            view = views.get(post_id)
            author = authors.get(view.user.user_id) if view is not None else None
            if (
                view is None
                or author is None
                or post_id not in flags
                or author.user_id in hidden
                or ("p", post_id) in hidden
            ):
                continue
            view.user.CopyFrom(author)
            view.like_count, view.comment_count, view.view_count = counts.get(post_id, (0, 0, 0))
            view.has_liked, view.has_saved = flags[post_id]
            answer.append(view)
        return answer

    @staticmethod
    def _parse_counts(ids: list[int], raw: list[Any]) -> dict[int, tuple[int, int, int]]:
        found: dict[int, tuple[int, int, int]] = {}
        for post_id, value in zip(ids, raw, strict=True):
            if value is not None:
                _, likes, comments, *views = value.split(b":")
                found[post_id] = (int(likes), int(comments), int(views[0]) if views else 0)
        return found

    async def _authors(
        self, author_ids: list[int], kept: dict[int, Any] | None = None
    ) -> dict[int, user_pb2.UserSummary]:
        """Return these authors' summaries: from `kept` (what _read found), then from Redis,
        then from user_svc."""
        kept = kept or {}
        unread = [a for a in author_ids if a not in kept]
        if unread:
            kept = {
                **kept,
                **dict(zip(unread, await self._mget([author_key(a) for a in unread]), strict=True)),
            }
        found = {
            a: user_pb2.UserSummary.FromString(kept[a]) for a in author_ids if kept[a] is not None
        }
        missing = [a for a in author_ids if a not in found]
        if missing:
            found.update(await self._fill_authors(missing))
        return found

    async def _fill_authors(self, author_ids: list[int]) -> dict[int, user_pb2.UserSummary]:
        found = await self._author_fills.get(0, author_ids)
        return {a: v for a, (_, v) in found.items() if v is not None}

    async def _fetch_authors(
        self, _viewer: int, author_ids: list[int]
    ) -> dict[int, user_pb2.UserSummary]:
        fresh = await self._directory.summaries(author_ids)
        await self._store_authors(fresh.values(), overwrite=False)
        return fresh

    async def _store_authors(self, summaries: Any, *, overwrite: bool) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for summary in summaries:
                pipe.set(
                    author_key(summary.user_id),
                    summary.SerializeToString(),
                    ex=self._limits.author_ttl_seconds,
                    nx=not overwrite,
                )
            await pipe.execute()

    async def _fill_counts(self, post_ids: list[int]) -> dict[int, tuple[int, int, int]]:
        """Read counts from feed_svc's projection and keep them (one round trip), unless events
        were faster."""
        found = await self._count_fills.get(0, post_ids)
        return {p: v if v is not None else (0, 0, 0) for p, (_, v) in found.items()}

    async def _fetch_counts(
        self, _viewer: int, post_ids: list[int]
    ) -> dict[int, tuple[int, int, int]]:
        found = await self._counter.counts(post_ids)
        rows = [(p, *found.get(p, (0, 0, 0, 0))) for p in post_ids]
        await self.set_counts_many(rows)
        return {p: (likes, comments, views) for p, _, likes, comments, views in rows}

    async def _read_through(
        self,
        viewer: int,
        missing_views: list[int],
        ask: list[int],
        views: dict[int, post_pb2.Post],
        flags: dict[int, tuple[bool, bool]],
        horizons: tuple[bytes | None, bytes | None],
    ) -> None:
        """Fill what the read model lacks for this read: the posts it does not keep (each read
        once across readers, see _fill_views) and, at the same time, the viewer's flags it
        cannot tell (one flags-only call: no post is hydrated for them; `horizons` are the
        flags hashes' as this read saw them)."""
        filled, known = await asyncio.gather(
            self._fill_views(missing_views) if missing_views else _empty(),
            self._fill_flags(viewer, ask, horizons) if ask else _empty(),
        )
        views.update(filled)
        for post_id in missing_views:
            if post_id not in filled:
                # post_svc did not answer it: deleted. Not shown.
                views.pop(post_id, None)
        for post_id in ask:
            if post_id in known:
                flags[post_id] = known[post_id]
            else:  # reported by the viewer: never shown to them
                views.pop(post_id, None)

    async def _fill_flags(
        self,
        viewer: int,
        post_ids: list[int],
        horizons: tuple[bytes | None, bytes | None],
    ) -> dict[int, tuple[bool, bool]]:
        """Return the viewer's (liked, saved) for these posts from post_svc's flags-only call,
        asked together with the flags other readers of this process want at the same moment
        (Batcher, _fetch_flags); the posts the viewer reported are left out. `horizons`: the
        viewer's flags hashes' horizons as the read saw them (None: no hash)."""
        if len(self._horizons_seen) >= HORIZONS_SEEN_MAX:
            self._horizons_seen.clear()  # left by readers whose posts another's fill asked
        self._horizons_seen[viewer] = horizons
        found = await self._flag_fills.get(0, [(viewer, p) for p in post_ids])
        return {p: v for (_, p), (_, v) in found.items() if v is not None}

    async def _fetch_flags(
        self, _viewer: int, pairs: list[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[bool, bool]]:
        """Ask post_svc for these (viewer, post) flags, each viewer's posts as one entry, in as
        few calls as its limits allow, and keep them where the viewers' hashes lack them (one
        pipeline); the posts a viewer reported are left out of the answer and kept in the
        viewer's hidden set (as the report's own event keeps them). A viewer whose hashes do not
        yet reach back `flags_listed_seconds` also has every flag of that time listed, and its
        hashes' horizons are lowered to where the list starts (_recent_since)."""
        wanted: dict[int, list[int]] = {}
        for viewer, post_id in pairs:
            wanted.setdefault(viewer, []).append(post_id)
        listed_seconds = self._limits.flags_listed_seconds
        floor = id_at(self._clock() - timedelta(seconds=listed_seconds)) if listed_seconds else 0
        seen = {viewer: self._horizons_seen.pop(viewer, None) for viewer in wanted}
        entries = [
            FlagsWanted(
                viewer,
                posts[i : i + FLAGS_POSTS_MAX],
                _recent_since(seen[viewer], floor) if i == 0 else 0,
            )
            for viewer, posts in wanted.items()
            for i in range(0, len(posts), FLAGS_POSTS_MAX)
        ]
        calls = [
            entries[i : i + FLAGS_VIEWERS_MAX] for i in range(0, len(entries), FLAGS_VIEWERS_MAX)
        ]
        answers = await asyncio.gather(*(self._source.viewers_flags(call) for call in calls))
        self.flag_fills += len(wanted)
        horizon = _version(id_at(self._clock() + CLOCK_MARGIN))
        ttl, most = self._limits.flags_ttl_seconds, self._limits.flags_max_entries
        answer: dict[tuple[int, int], tuple[bool, bool]] = {}
        scripts: list[tuple[list[str], list[Any]]] = []
        reported: list[tuple[int, list[int]]] = []
        for call, found in zip(calls, answers, strict=True):
            for entry, flags in zip(call, found, strict=True):
                viewer, post_ids = entry.viewer, entry.post_ids
                hidden = flags.hidden
                shown = [p for p in post_ids if p not in hidden]
                answer.update(((viewer, p), (p in flags.liked, p in flags.saved)) for p in shown)
                listed = flags.listed_since if entry.since > 0 else 0
                asked = set(post_ids)
                horizons = seen[viewer] or (None, None)
                for key, flagged, was in (
                    (likes_key(viewer), flags.liked, horizons[0]),
                    (saves_key(viewer), flags.saved, horizons[1]),
                ):
                    kept: list[str] = []
                    for post_id in shown:
                        kept += [str(post_id), "1" if post_id in flagged else "0"]
                    if listed > 0:
                        for post_id in sorted(flagged - asked - hidden):
                            if post_id >= listed:
                                kept += [str(post_id), "1"]
                        lowered = _version(listed - 1)
                        before = (was or b"").decode()
                        scripts.append(([key], ["w", horizon, ttl, most, before, lowered, *kept]))
                    elif kept:
                        scripts.append(([key], ["f", horizon, ttl, most, *kept]))
                if hidden:
                    reported.append((viewer, sorted(hidden)))
        await self._run_many(self._flags, scripts)
        if reported:
            async with self._redis.pipeline(transaction=False) as pipe:
                for viewer, hidden_ids in reported:
                    pipe.sadd(hidden_key(viewer), *(f"p:{p}" for p in hidden_ids))
                await pipe.execute()
        return answer

    async def _fill_views(self, post_ids: list[int]) -> dict[int, post_pb2.Post]:
        """Return the views of posts the read model does not keep, each read through once
        however many readers of this process want it, together with the posts other readers
        want at the same moment (Batcher), under the posts' locks (_fill_views_locked). A post
        left out is deleted (the views are the same for every viewer: each read applies its own
        privacy rule, as on a warm read)."""
        found = await self._post_fills.get(0, post_ids)
        return {
            p: post_pb2.Post.FromString(raw) for p, (_, raw) in found.items() if raw is not None
        }

    async def _fill_views_locked(self, _viewer: int, post_ids: list[int]) -> dict[int, bytes]:
        """Read these posts through from post_svc as every viewer sees them, one reader per
        post across processes: take each post's lock; for the ones another process holds, wait
        briefly for what it keeps; ask post_svc for the rest and keep its answer. Return the
        serialized views found (a post left out is deleted)."""
        token = secrets.token_hex(8)
        ttl = int(self._limits.fill_lock_seconds * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for post_id in post_ids:
                # The view again with the lock: a reader that missed it just before another's
                # fill finished finds it kept now, and asks nothing.
                pipe.get(post_key(post_id))
                pipe.set(lock_key(post_id), token, nx=True, px=ttl)
            answers = await pipe.execute()
        found: dict[int, bytes] = {}
        held: list[int] = []
        waiting: list[int] = []
        done: list[int] = []  # kept meanwhile, though this reader took the lock
        for i, post_id in enumerate(post_ids):
            kept, got = answers[2 * i], answers[2 * i + 1]
            if kept is not None:
                if kept != TOMBSTONE:
                    found[post_id] = kept
                if got:
                    done.append(post_id)
            else:
                (held if got else waiting).append(post_id)
        if done:
            await self._unlock(done, token)
        if waiting:
            deadline = time.monotonic() + self._limits.fill_wait_seconds
            while waiting and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                raw = await self._mget([post_key(p) for p in waiting])
                still = []
                for post_id, value in zip(waiting, raw, strict=True):
                    if value is None:
                        still.append(post_id)
                    elif value != TOMBSTONE:
                        found[post_id] = value
                waiting = still
        wanted = [*held, *waiting]
        try:
            answer = await self._source.shared_posts(wanted) if wanted else []
            self.fills += len(answer)
            await self._keep(answer)
        finally:
            if held:
                await self._unlock(held, token)
        for post in answer:
            found[post.post_id] = _independent(post).SerializeToString()
        return found

    async def _keep(self, found: list[post_pb2.Post]) -> None:
        """Store posts post_svc answered, each where none is kept (a tombstone or an event's
        newer copy written meanwhile wins), with the post of each of their media."""
        ttl = self._limits.post_ttl_seconds
        async with self._redis.pipeline(transaction=False) as pipe:
            for post in found:
                pipe.set(
                    post_key(post.post_id), _independent(post).SerializeToString(), ex=ttl, nx=True
                )
                for media in post.media:
                    pipe.set(media_key(media.media_id), str(post.post_id), ex=ttl)
            await pipe.execute()

    async def _unlock(self, post_ids: list[int], token: str) -> None:
        raw = await self._mget([lock_key(p) for p in post_ids])
        mine = [p for p, v in zip(post_ids, raw, strict=True) if v == token.encode()]
        if mine:
            async with self._redis.pipeline(transaction=False) as pipe:
                for post_id in mine:
                    pipe.delete(lock_key(post_id))
                await pipe.execute()

    # -- relationships and privacy ---------------------------------------------------------------

    async def access(self, viewer: int, owners: Sequence[int]) -> dict[int, Access]:
        """Return what the viewer may see of each existing account among these (unknown
        accounts are left out), from cached summaries and relationships: one round trip when
        warm, graph_svc and user_svc asked only for what is missing."""
        wanted = list(dict.fromkeys(owners))
        if not wanted:
            return {}
        if self._cluster:
            summaries_key, relations, ties = self._access_reads(viewer, wanted)
            raw_summaries, raw_relations, raw_ties = await asyncio.gather(
                self._mget(summaries_key),
                self._redis.hmget(relations[0], relations[1]) if relations else _nothing(),
                self._redis.smismember(ties[0], ties[1]) if ties else _nothing(),
            )
            return await self._access_answer(viewer, wanted, raw_summaries, raw_relations, raw_ties)
        async with self._redis.pipeline(transaction=False) as pipe:
            self._queue_access(pipe, viewer, wanted)
            answers = await pipe.execute()
        return await self._access_answer(viewer, wanted, *answers)

    def _access_reads(
        self, viewer: int, owners: list[int]
    ) -> tuple[list[str], tuple[str, list[str]] | None, tuple[str, list[str]] | None]:
        """Return the summary keys, and the relationships hash and the ties set with the
        members access() reads of each."""
        others = [o for o in owners if viewer and o != viewer]
        if not others:
            return [author_key(a) for a in owners], None, None
        relations = (relations_key(viewer), [GENERATION, *map(str, others)])
        ties = (ties_key(viewer), [WHOLE, *(f"{k}:{o}" for o in others for k in _TIE_KINDS)])
        return [author_key(a) for a in owners], relations, ties

    def _queue_access(self, pipe: Any, viewer: int, owners: list[int]) -> None:
        """Queue access()'s reads on a pipeline: three commands, always (non-cluster only)."""
        summaries, relations, ties = self._access_reads(viewer, owners)
        pipe.mget(summaries)
        if relations is not None and ties is not None:
            pipe.hmget(*relations)
            pipe.smismember(*ties)
        else:
            pipe.echo(b"")  # keeps the answers' shape: three per access
            pipe.echo(b"")

    async def _access_answer(
        self,
        viewer: int,
        wanted: list[int],
        raw_summaries: list[Any],
        raw_relations: Any,
        raw_ties: Any,
    ) -> dict[int, Access]:
        """Decide access from what access()'s reads found, filling what they lacked: a
        relationship neither cached nor known from the viewer's whole ties reads the ties whole
        (one graph_svc call answers every account), or, for a viewer with too many, asks graph_svc
        for these accounts."""
        others = [o for o in wanted if viewer and o != viewer]
        summaries = {
            a: user_pb2.UserSummary.FromString(r)
            for a, r in zip(wanted, raw_summaries, strict=True)
            if r is not None
        }
        missing_authors = [a for a in wanted if a not in summaries]
        packed: dict[int, str] = {}
        missing_relations: list[int] = []
        if others:
            packed = {
                o: r.decode()
                for o, r in zip(others, raw_relations[1:], strict=True)
                if r is not None
            }
            missing_relations = [o for o in others if o not in packed]
            if missing_relations and raw_ties[0]:
                packed.update(_tied(others, raw_ties, missing_relations))
                missing_relations = []
        if missing_authors and missing_relations:
            more_summaries, more_relations = await asyncio.gather(
                self._fill_authors(missing_authors),
                self._fill_access(viewer, missing_relations, raw_relations[0]),
            )
            summaries.update(more_summaries)
            packed.update(more_relations)
        elif missing_authors:
            summaries.update(await self._fill_authors(missing_authors))
        elif missing_relations:
            packed.update(await self._fill_access(viewer, missing_relations, raw_relations[0]))
        return {
            a: decide(viewer, summaries[a], packed.get(a, "0000")) for a in wanted if a in summaries
        }

    async def _fill_access(
        self, viewer: int, owners: list[int], generation: bytes | None
    ) -> dict[int, str]:
        """Ask graph_svc what the privacy rule needs that the cache lacks: the viewer's ties
        whole when they fit relations_whole_max (kept unless a graph change of the viewer's came
        since the generation was read), else these accounts' relationships (_fill_relations).
        Answers the access flags only (_access_flags)."""
        if self._graph is None:
            raise RuntimeError("the read model was built without graph_svc")
        most = self._limits.relations_whole_max
        ties = await self._graph.ties(viewer, limit=most) if most else None
        if ties is None:
            return await self._fill_relations(viewer, owners, generation)
        members = [WHOLE]
        for kind, ids in zip(
            _TIE_KINDS, (ties.following, ties.blocking, ties.blocked_by), strict=True
        ):
            members += [f"{kind}:{i}" for i in ids]
        await self._ties_fill(
            keys=[relations_key(viewer), ties_key(viewer)],
            args=[
                generation.decode() if generation else "",
                self._limits.relations_ttl_seconds,
                *members,
            ],
        )
        self.ties_fills += 1
        return {
            o: _access_flags(o in ties.following, o in ties.blocking, o in ties.blocked_by)
            for o in owners
        }

    async def _fill_relations(
        self, viewer: int, owners: list[int], generation: bytes | None
    ) -> dict[int, str]:
        """Ask graph_svc for relationships the cache lacks; keep them unless a graph change of
        the viewer's came since the generation was read (then this answer is used once)."""
        if self._graph is None:
            raise RuntimeError("the read model was built without graph_svc")
        found = await self._graph.relations(viewer, owners)
        packed = {o: _pack(found.get(o)) for o in owners}
        pairs: list[str] = []
        for owner, flags in packed.items():
            pairs += [str(owner), flags]
        await self._relations_fill(
            keys=[relations_key(viewer)],
            args=[
                generation.decode() if generation else "",
                self._limits.relations_ttl_seconds,
                *pairs,
            ],
        )
        return packed

    async def relation_changed(self, first: int, second: int, *, counts: bool = False) -> None:
        """Forget what the two accounts' relationship was, both ways, and bump each one's
        generation so no fill taken before this change is written back; with `counts` (a follow
        made or gone), their profiles too."""
        await self.relations_changed([(first, second)], counts=counts)

    async def relations_changed(
        self, pairs: Sequence[tuple[int, int]], *, counts: bool = False
    ) -> None:
        """relation_changed for many pairs in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for first, second in pairs:
                for viewer, other in ((first, second), (second, first)):
                    key = relations_key(viewer)
                    pipe.hdel(key, str(other))
                    pipe.hincrby(key, GENERATION, 1)
                    pipe.delete(ties_key(viewer))
                    pipe.expire(key, self._limits.relations_ttl_seconds)
                    if counts:
                        self._queue_profile_changed(pipe, viewer)
            await pipe.execute()

    # -- profiles --------------------------------------------------------------------------------

    def _queue_profile_changed(self, pipe: Any, user_id: int) -> None:
        pipe.incr(profile_version_key(user_id))
        pipe.expire(profile_version_key(user_id), self._limits.profile_ttl_seconds)
        pipe.delete(profile_key(user_id))

    async def profile_changed(self, user_id: int) -> None:
        """Drop an account's profile and bump its version: its next read asks user_svc, and no
        fill that asked before this change is written back."""
        async with self._redis.pipeline(transaction=False) as pipe:
            self._queue_profile_changed(pipe, user_id)
            await pipe.execute()

    async def profile_by_username(self, viewer: int, username: str) -> user_pb2.User:
        """Return a profile named by username, as user_svc answers the viewer (not kept: a
        username can name another account once a deleted one's is released)."""
        return await self._require_profiles().profile(username=username, viewer_id=viewer)

    def _require_profiles(self) -> Profiles:
        if self._profiles is None:
            raise RuntimeError("the read model was built without user_svc's profiles")
        return self._profiles

    async def profile(self, viewer: int, owner: int) -> user_pb2.User | None:
        """Return an account's profile as the viewer sees it (None: it blocked the viewer),
        from the cached profile and relationship: one round trip when warm. user_svc's
        NOT_FOUND (no such account, suspended, deleted) passes on from a fill."""
        own = viewer == owner
        other = bool(viewer) and not own
        fields = [GENERATION, str(owner)]
        profile_keys = [profile_key(owner), profile_version_key(owner)]
        if self._cluster:
            raw, raw_relation = await asyncio.gather(
                self._mget(profile_keys),
                self._redis.hmget(relations_key(viewer), fields) if other else _nothing(),
            )
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.mget(profile_keys)
                if other:
                    pipe.hmget(relations_key(viewer), fields)
                answers = await pipe.execute()
            raw, raw_relation = answers[0], answers[1] if other else [None]
        flags = ""
        if other:
            kept = raw_relation[1]
            flags = kept.decode() if kept is not None else ""
            if len(flags) < len(RELATION_FLAGS):
                # Before the profile: a block answers without it, as user_svc did.
                flags = (await self._fill_relations(viewer, [owner], raw_relation[0]))[owner]
            if flags[2] == "1":  # blocked by the owner: not found
                return None
        user = None
        if raw[0] is not None:
            user = user_pb2.User.FromString(raw[0])
            if own and not user.email:
                user = None  # filled for another viewer: the owner's read needs the email
        if user is None:
            user = await self._fill_profile(owner, own=own, version=raw[1])
        if not own:
            user.email = ""
        if not other:
            return user
        relation = dict(zip(RELATION_FLAGS, (f == "1" for f in flags), strict=True))
        if relation["blocking"]:
            return user_pb2.User(
                user_id=user.user_id,
                username=user.username,
                relationship=user_pb2.UserRelationship(blocking=True, muting=relation["muting"]),
            )
        user.relationship.CopyFrom(
            user_pb2.UserRelationship(
                following=relation["following"],
                followed_by=relation["followed_by"],
                requested=relation["requested"],
                incoming_request=relation["incoming_request"],
                muting=relation["muting"],
            )
        )
        return user

    async def _fill_profile(self, owner: int, *, own: bool, version: bytes | None) -> user_pb2.User:
        """Ask user_svc for a profile as no viewer sees it (its owner: with the email) and keep
        it unless its counts were missing or it changed since `version` was read."""
        fresh = await self._require_profiles().profile(user_id=owner, viewer_id=owner if own else 0)
        self.profile_fills += 1
        fresh.ClearField("relationship")
        if not fresh.counts_unavailable:
            await self._profile_fill(
                keys=[profile_key(owner), profile_version_key(owner)],
                args=[
                    version.decode() if version else "",
                    fresh.SerializeToString(),
                    self._limits.profile_ttl_seconds,
                ],
            )
        return fresh

    # -- profile grids ---------------------------------------------------------------------------

    async def grid_page(
        self, viewer: int, owner: int, *, before: int | None, count: int
    ) -> tuple[Access | None, list[int]]:
        """Return what the viewer may see of an account and up to `count` of its post ids older
        than `before` (see grid_ids), in one round trip when both are warm."""
        if self._cluster:
            access, ids = await asyncio.gather(
                self.access(viewer, [owner]), self.grid_ids(owner, before=before, count=count)
            )
            return access.get(owner), ids
        async with self._redis.pipeline(transaction=False) as pipe:
            self._queue_access(pipe, viewer, [owner])
            self._queue_grid(pipe, owner, before, count)
            raw_summaries, raw_relations, raw_ties, *grid = await pipe.execute()
        access = await self._access_answer(viewer, [owner], raw_summaries, raw_relations, raw_ties)
        if access.get(owner) is None or not access[owner].can_view:
            return access.get(owner), []
        return access[owner], await self.grid_ids(owner, before=before, count=count, read=grid)

    @staticmethod
    def _queue_grid(pipe: Any, owner: int, before: int | None, count: int) -> None:
        top = f"({before:019d}" if before is not None else _GRID_TOP
        pipe.zscore(grid_key(owner), GRID_BUILT)
        pipe.zrevrangebylex(grid_key(owner), top, "-", start=0, num=count + 1)
        pipe.get(grid_version_key(owner))

    async def grid_ids(
        self, owner: int, *, before: int | None, count: int, read: list[Any] | None = None
    ) -> list[int]:
        """Return up to `count` of an account's live post ids older than `before`, newest first:
        from the grid kept in Redis, filled from the projection by one reader across processes,
        and straight from the projection beyond what the grid holds. `read`: the grid's reads
        (_queue_grid) already made."""
        for attempt in range(2):
            if read is None:
                async with self._redis.pipeline(transaction=False) as pipe:
                    self._queue_grid(pipe, owner, before, count)
                    read = await pipe.execute()
            built, members, version = read
            read = None
            if built is not None:
                ids = [int(m) for m in members]
                reached_floor = bool(ids) and ids[-1] == 0
                ids = [i for i in ids if i]
                if len(ids) >= count or reached_floor:
                    return ids[:count]
                break  # the grid holds fewer than asked: the rest is older than it keeps
            if attempt == 0 and await self._fill_grid(owner, version):
                continue
            break
        return await self._projection_ids(owner, before=before, count=count)

    async def _projection_ids(self, owner: int, *, before: int | None, count: int) -> list[int]:
        if self._post_list is None:
            raise RuntimeError("the read model was built without the projection")
        return await self._post_list.author_posts(owner, before=before, limit=count)

    async def _fill_grid(self, owner: int, version: bytes | None) -> bool:
        """Build an account's grid from the projection (one filler across processes; the
        others wait for it). Return whether it is built now."""
        token = secrets.token_hex(8)
        ttl = int(self._limits.fill_lock_seconds * 1000)
        if not await self._redis.set(grid_lock_key(owner), token, nx=True, px=ttl):
            deadline = time.monotonic() + self._limits.fill_wait_seconds
            while time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                if await self._redis.zscore(grid_key(owner), GRID_BUILT) is not None:
                    return True
            return False
        try:
            keep = self._limits.grid_posts
            ids = await self._projection_ids(owner, before=None, count=keep + 1)
            members = [f"{p:019d}" for p in ids[:keep]]
            if len(ids) <= keep:
                members.append(GRID_FLOOR)
            self.grid_fills += 1
            return bool(
                await self._grid_fill(
                    keys=[grid_key(owner), grid_version_key(owner)],
                    args=[
                        version.decode() if version else "",
                        self._limits.post_ttl_seconds,
                        *members,
                    ],
                )
            )
        finally:
            if await self._redis.get(grid_lock_key(owner)) == token.encode():
                await self._redis.delete(grid_lock_key(owner))

    async def grid_changed(self, owner: int, post_id: int, *, added: bool) -> None:
        """Add a new post to its author's grid, or take a deleted one out; the author's
        profile (its post count) is read again."""
        await self.profile_changed(owner)
        await self._grid_change(
            keys=[grid_key(owner), grid_version_key(owner)],
            args=[
                f"{post_id:019d}",
                self._limits.grid_posts + 2,
                "1" if added else "0",
                self._limits.post_ttl_seconds,
            ],
        )

    # -- hashtag pages ---------------------------------------------------------------------------

    @staticmethod
    def _queue_tag(pipe: Any, tag: str, before: int | None, count: int) -> None:
        top = f"({before:019d}" if before is not None else _GRID_TOP
        pipe.zscore(tag_key(tag), GRID_BUILT)
        pipe.zrevrangebylex(tag_key(tag), top, "-", start=0, num=count + 1)
        pipe.get(tag_version_key(tag))

    async def tag_page(
        self, tag: str, *, before: int | None, count: int
    ) -> tuple[dict[int, int], list[int]]:
        """Return how many live posts of each author carry a tag and up to `count` of its post
        ids older than `before`, newest first (see tag_ids): one round trip when warm."""
        for attempt in range(2):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(tag_authors_key(tag))
                self._queue_tag(pipe, tag, before, count)
                raw_authors, *read = await pipe.execute()
            if raw_authors:
                authors = {int(a): int(n) for a, n in raw_authors.items() if a != b"~"}
                return authors, await self.tag_ids(tag, before=before, count=count, read=read)
            # The authors are missing (never read, or a post of the tag came or went since):
            # one reader reads them again (with the index, when that is missing too).
            if attempt == 0 and await self._fill_tag(tag, read[2], index=read[0] is None):
                continue
            break
        ids, authors = await self._tag_source().tag_posts(
            tag, before=before, limit=count, with_authors=True
        )
        return authors, ids

    async def tag_ids(
        self, tag: str, *, before: int | None, count: int, read: list[Any] | None = None
    ) -> list[int]:
        """Return up to `count` ids of a tag's live posts older than `before`, newest first:
        from the index kept in Redis (filled from post_svc by one reader across processes),
        and from post_svc's index beyond what it holds. `read`: _queue_tag's reads made."""
        for attempt in range(2):
            if read is None:
                async with self._redis.pipeline(transaction=False) as pipe:
                    self._queue_tag(pipe, tag, before, count)
                    read = await pipe.execute()
            built, members, version = read
            read = None
            if built is not None:
                ids = [int(m) for m in members]
                reached_floor = bool(ids) and ids[-1] == 0
                ids = [i for i in ids if i]
                if len(ids) >= count or reached_floor:
                    return ids[:count]
                break  # the rest is older than the index keeps
            if attempt == 0 and await self._fill_tag(tag, version, index=True):
                continue
            break
        ids, _ = await self._tag_source().tag_posts(
            tag, before=before, limit=count, with_authors=False
        )
        return ids

    def _tag_source(self) -> TagIndex:
        if self._tags is None:
            raise RuntimeError("the read model was built without post_svc's tag index")
        return self._tags

    async def _fill_tag(self, tag: str, version: bytes | None, *, index: bool) -> bool:
        """Read a tag's authors (and, with `index`, its newest posts) from post_svc and keep
        them unless a post of the tag came or went meanwhile (one filler across processes; the
        others wait for it). Return whether they are kept now."""
        token = secrets.token_hex(8)
        ttl = int(self._limits.fill_lock_seconds * 1000)
        if not await self._redis.set(tag_lock_key(tag), token, nx=True, px=ttl):
            deadline = time.monotonic() + self._limits.fill_wait_seconds
            while time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                if index:
                    done = await self._redis.zscore(tag_key(tag), GRID_BUILT) is not None
                else:
                    done = bool(await self._redis.exists(tag_authors_key(tag)))
                if done:
                    return True
            return False
        try:
            keep = self._limits.tag_posts
            ids, authors = await self._tag_source().tag_posts(
                tag, before=None, limit=keep + 1 if index else 0, with_authors=True
            )
            members: list[str] = []
            if index:
                members = [f"{p:019d}" for p in ids[:keep]]
                if len(ids) <= keep:
                    members.append(GRID_FLOOR)
            pairs: list[str | int] = []
            for author, n in authors.items():
                pairs += [str(author), n]
            self.tag_fills += 1
            return bool(
                await self._tag_fill(
                    keys=[tag_key(tag), tag_version_key(tag), tag_authors_key(tag)],
                    args=[
                        version.decode() if version else "",
                        self._limits.post_ttl_seconds,
                        len(members),
                        *members,
                        *pairs,
                    ],
                )
            )
        finally:
            if await self._redis.get(tag_lock_key(tag)) == token.encode():
                await self._redis.delete(tag_lock_key(tag))

    async def tags_changed(self, tags: Sequence[str], post_id: int, *, added: bool) -> None:
        """Add a new post to its tags' indexes, or take a deleted one out; either way their
        authors' counts are read again on the next read."""
        for tag in dict.fromkeys(tags):
            await self._grid_change(
                keys=[tag_key(tag), tag_version_key(tag), tag_authors_key(tag)],
                args=[
                    f"{post_id:019d}",
                    self._limits.tag_posts + 2,
                    "1" if added else "0",
                    self._limits.post_ttl_seconds,
                ],
            )

    async def kept_tags(self, post_id: int) -> list[str]:
        """Return the hashtags of a kept post (none when it is not kept or is a tombstone)."""
        raw = await self._redis.get(post_key(post_id))
        if raw is None or raw == TOMBSTONE:
            return []
        return list(post_pb2.Post.FromString(raw).hashtags)

    # -- writing (events) ----------------------------------------------------------------------

    async def store_post(self, post: post_pb2.Post) -> None:
        """Keep a post post_svc just answered (at creation), unless one is already kept."""
        await self._keep([post])

    async def store_posts(self, found: Sequence[post_pb2.Post]) -> None:
        """Keep posts post_svc just answered (at creation) in one round trip, each unless one
        is already kept."""
        if found:
            await self._keep(list(found))

    async def tombstone(self, post_id: int) -> None:
        """Mark a post deleted: every read leaves it out from now on."""
        await self._redis.set(post_key(post_id), TOMBSTONE, ex=self._limits.post_ttl_seconds)

    async def set_counts(
        self, post_id: int, *, version: int, likes: int, comments: int, views: int = 0
    ) -> None:
        """Keep a post's counts, unless a newer version is kept already."""
        await self._counts(
            keys=[counts_key(post_id)],
            args=[_version(version), likes, comments, views, self._limits.post_ttl_seconds],
        )

    async def set_counts_many(self, counts: Sequence[tuple[int, int, int, int, int]]) -> None:
        """Keep many posts' counts, (post id, version, likes, comments, views) each, in one
        round trip (a pipeline; one per node on a cluster), each unless a newer version is kept
        already."""
        ttl = self._limits.post_ttl_seconds
        await self._run_many(
            self._counts,
            [
                ([counts_key(p)], [_version(version), likes, comments, views, ttl])
                for p, version, likes, comments, views in counts
            ],
        )

    async def mark_applied(self, post_id: int, producer: str, event_id: int) -> None:
        """Remember for APPLIED_TTL_SECONDS that an engagement event is applied in full, so
        its delivery by the bus (after ApplyEvents) can skip it (`applied_among`)."""
        await self._redis.set(applied_key(post_id, producer, event_id), 1, ex=APPLIED_TTL_SECONDS)

    async def applied_among(self, events: Sequence[tuple[int, str, int]]) -> set[tuple[str, int]]:
        """Return the (producer, event id) of the events, (post id, producer, event id) each,
        marked applied, in one round trip (a pipeline; one per node on a cluster)."""
        if not events:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for post_id, producer, event_id in events:
                pipe.exists(applied_key(post_id, producer, event_id))
            found = await pipe.execute()
        return {
            (producer, event_id)
            for (_, producer, event_id), n in zip(events, found, strict=True)
            if n
        }

    async def set_likes_many(self, flags: Sequence[tuple[int, int, bool, int]]) -> None:
        """Record many viewers' likes or unlikes, (viewer, post id, liked, event id) each, in
        one round trip, each unless a newer one is kept (as set_flag)."""
        horizon = _version(id_at(self._clock() + CLOCK_MARGIN))
        ttl, most = self._limits.flags_ttl_seconds, self._limits.flags_max_entries
        await self._run_many(
            self._flags,
            [
                (
                    [likes_key(viewer)],
                    ["e", str(post_id), _version(version), "1" if liked else "0", horizon, ttl,
                     most],
                )
                for viewer, post_id, liked, version in flags
            ],
        )  # fmt: skip

    async def _run_many(self, script: Any, calls: Sequence[tuple[list[str], list[Any]]]) -> None:
        """Run one registered script for many (keys, args) in one pipeline. The scripts that
        use it are idempotent and versioned, so running them again after a node forgot the
        script (a restart, SCRIPT FLUSH) is safe."""
        if not calls:
            return

        async def run() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    # execute_command: the cluster pipeline refuses its evalsha() method, not the
                    # command, which it routes to the node of the key's slot.
                    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                await pipe.execute()

        try:
            await run()
        except NoScriptError:
            await self._redis.script_load(script.script)
            await run()

    async def set_flag(
        self,
        *,
        viewer: int,
        post_id: int,
        liked: bool | None = None,
        saved: bool | None = None,
        version: int,
    ) -> None:
        """Record a viewer's like or save of a post as of an event, unless a newer one is kept."""
        horizon = _version(id_at(self._clock() + CLOCK_MARGIN))
        for key, value in ((likes_key(viewer), liked), (saves_key(viewer), saved)):
            if value is None:
                continue
            await self._flags(
                keys=[key],
                args=[
                    "e",
                    str(post_id),
                    _version(version),
                    "1" if value else "0",
                    horizon,
                    self._limits.flags_ttl_seconds,
                    self._limits.flags_max_entries,
                ],
            )

    async def block(self, *, blocker: int, blocked: int, blocking: bool) -> None:
        """Record (or, with blocking False, lift) a block: each one's posts are never served
        to the other while it holds."""
        async with self._redis.pipeline(transaction=False) as pipe:
            if blocking:
                pipe.sadd(hidden_key(blocker), f"b:{blocked}")
                pipe.sadd(hidden_key(blocked), f"by:{blocker}")
            else:
                pipe.srem(hidden_key(blocker), f"b:{blocked}")
                pipe.srem(hidden_key(blocked), f"by:{blocker}")
            await pipe.execute()

    async def forget_account(self, user_id: int) -> None:
        """Forget a deleted account: its summary as an author, its flags and hidden set as a
        viewer."""
        await self._redis.delete(
            author_key(user_id),
            likes_key(user_id),
            saves_key(user_id),
            hidden_key(user_id),
            profile_key(user_id),
            relations_key(user_id),
            ties_key(user_id),
        )

    async def hide_post(self, *, viewer: int, post_id: int) -> None:
        """Never serve a post to a viewer again (the viewer reported it)."""
        await self._redis.sadd(hidden_key(viewer), f"p:{post_id}")

    async def refresh_author(self, user_id: int) -> None:
        """Replace an account's summary with user_svc's answer now (after a profile change)."""
        fresh = await self._directory.summaries([user_id])
        if user_id in fresh:
            await self._store_authors([fresh[user_id]], overwrite=True)
        else:
            await self._redis.delete(author_key(user_id))

    async def post_of_media(self, media_id: int) -> int | None:
        """Return the kept post a piece of media is shown in, if any."""
        raw = await self._redis.get(media_key(media_id))
        return int(raw) if raw is not None else None

    async def refresh_post(self, post: post_pb2.Post) -> None:
        """Replace a kept post with post_svc's fresh answer (never a tombstone, never a post
        no longer kept: a reader reads that through)."""
        await self._replace(
            keys=[post_key(post.post_id)], args=[_independent(post).SerializeToString(), TOMBSTONE]
        )

    async def media_deleted(self, media_id: int) -> None:
        """Take a deleted piece of media out of the post that showed it."""
        raw = await self._redis.get(media_key(media_id))
        if raw is None:
            return
        key = post_key(int(raw))
        view_raw: bytes | None = await self._redis.get(key)
        if view_raw is None or view_raw == TOMBSTONE:
            return
        view = post_pb2.Post.FromString(view_raw)
        kept = [m for m in view.media if m.media_id != media_id]
        if len(kept) != len(view.media):
            del view.media[:]
            view.media.extend(kept)
            await self._redis.set(key, view.SerializeToString(), xx=True, keepttl=True)


def _independent(post: post_pb2.Post) -> post_pb2.Post:
    """Return the viewer-independent part of a hydrated post: author id only, no counts, no
    viewer flags."""
    view = post_pb2.Post()
    view.CopyFrom(post)
    view.user.Clear()
    view.user.user_id = post.user.user_id
    view.like_count = 0
    view.comment_count = 0
    view.view_count = 0
    view.has_liked = False
    view.has_saved = False
    return view


async def _empty() -> dict[int, Any]:
    return {}
