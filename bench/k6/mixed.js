// k6 script: mixed-edge's mix through the edge (HTTP/JSON), open loop, so that the load
// generator is Go rather than Python (bench/mixed_edge.py's generator costs the shared cores
// about 2.4 ms of CPU a request).
//
// The same requests as mixed-edge, in the same proportions: every iteration is one request, the
// k-th iteration of a scenario sends the (k mod cycle)-th operation of one cycle of the mix
// (home feed 60, user posts 30, create post 10, like 6, comment 3 of every 109, spread evenly as
// mixed_edge.mix_sequence spreads them). Reads, likes and comments carry a random reader's
// token; a create posts the next media of the scenario's hand (uploaded beforehand, each used
// once) as its owner; a create with no media left is sent as nothing and counts in `no_media`.
// Each request is tagged `name` with its operation (mixed-edge's names), which has its own
// thresholds: p99 under P99_MS, no failed request, at least one sent.
//
// Two scenarios at the same rate: `warmup` (sent, not judged, as mixed-edge's warm-up) and then
// `mixed`, the one the thresholds and figures are about.
//
// Environment (`shutter bench k6 mixed` sets them and writes INPUTS_FILE):
//   INPUTS_FILE  JSON from mixed_edge.Inputs.to_json: edge_url, sequence (one cycle of the mix),
//                page_size, mode, caption, readers (tokens), authors, posts (ids as strings),
//                media: {"warmup": [[token, media id], ...], "mixed": [...]}
//   RATE         requests per second (default 10), DURATION (default "10s") of `mixed`,
//   WARMUP       of `warmup` (default "0s": none), VUS (default 50, at most 4 times as many)
//   P99_MS       the p99 each operation must stay under (default 100)
import http from "k6/http";
import exec from "k6/execution";
import { check, fail } from "k6";
import { Counter } from "k6/metrics";
import { SharedArray } from "k6/data";

const RATE = Number(__ENV.RATE || 10);
const DURATION = __ENV.DURATION || "10s";
const WARMUP = __ENV.WARMUP || "0s";
const VUS = Number(__ENV.VUS || 50);
const P99 = Number(__ENV.P99_MS || 100);
if (!__ENV.INPUTS_FILE) throw new Error("INPUTS_FILE is required (shutter bench k6 mixed)");
// The lists are SharedArrays: parsed once for all VUs, not once per VU (each VU costs k6 CPU on
// the cores the mesh uses); the few settings are one small object per VU.
const file = () => JSON.parse(open(__ENV.INPUTS_FILE));
const readers = new SharedArray("readers", () => file().readers);
const authors = new SharedArray("authors", () => file().authors);
const posts = new SharedArray("posts", () => file().posts);
const media = {
  warmup: new SharedArray("media warmup", () => file().media.warmup || []),
  mixed: new SharedArray("media mixed", () => file().media.mixed || []),
};
const inputs = new SharedArray("settings", () => {
  const { edge_url, sequence, page_size, mode, caption } = file();
  return [{ edge_url, sequence, page_size, mode, caption }];
})[0];
const EDGE = inputs.edge_url.replace(/\/$/, "");
const SEQUENCE = inputs.sequence;
const KINDS = ["home-feed", "user-posts", "create-post", "like", "comment"];
for (const kind of SEQUENCE) {
  if (!KINDS.includes(kind)) throw new Error(`unknown operation ${kind}; known: ${KINDS}`);
}
// Creates before each position of the cycle, and in a whole cycle: the n-th iteration's create
// uses media number creates-before-it, so each media is posted once, by exactly one iteration.
const CREATES_BEFORE = [];
let creates = 0;
for (const kind of SEQUENCE) {
  CREATES_BEFORE.push(creates);
  creates += kind === "create-post";
}
const CREATES_PER_CYCLE = creates;

const noMedia = new Counter("no_media");
const LOAD_STARTS = "shutter: load starts";
const FAILED = "shutter: failed";

function seconds(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!match) throw new Error(`a duration like 10s, not ${text}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60 }[match[2]];
}

const scenario = (duration, startTime) => ({
  executor: "constant-arrival-rate", // open loop: a slow answer does not slow the senders
  rate: RATE,
  timeUnit: "1s",
  duration,
  startTime,
  preAllocatedVUs: VUS,
  maxVUs: VUS * 4,
});

const scenarios = { mixed: scenario(DURATION, `${seconds(WARMUP)}s`) };
if (seconds(WARMUP) > 0) scenarios.warmup = scenario(WARMUP, "0s");
const thresholds = {
  checks: ["rate==1"], // every request of both scenarios answered 2xx, none without media
  no_media: ["count==0"],
  dropped_iterations: ["count==0"], // no request left unsent for want of a VU
  "http_reqs{scenario:mixed}": ["count>0"],
  "http_req_failed{scenario:mixed}": ["rate==0"],
  "http_req_duration{scenario:mixed}": [`p(99)<${P99}`],
};
// Not a limit: listed so that the summary counts the creates of both scenarios (media used).
thresholds["http_reqs{name:create-post}"] = ["count>=0"];
for (const kind of new Set(SEQUENCE)) {
  thresholds[`http_reqs{scenario:mixed,name:${kind}}`] = ["count>0"];
  thresholds[`http_req_failed{scenario:mixed,name:${kind}}`] = ["rate==0"];
  thresholds[`http_req_duration{scenario:mixed,name:${kind}}`] = [`p(99)<${P99}`];
}

export const options = {
  scenarios,
  thresholds,
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "p(99.9)", "max"],
};

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function hex(bytes) {
  let text = "";
  for (let i = 0; i < bytes; i++) text += Math.floor(Math.random() * 256).toString(16).padStart(2, "0");
  return text;
}

function send(kind, iteration) {
  // A JSON body says so; bodiless requests (reads, a like) carry the token alone, as httpx sends.
  const params = (token, json) => ({
    headers: json
      ? { "Content-Type": "application/json", Authorization: `Bearer ${token}` }
      : { Authorization: `Bearer ${token}` },
    tags: { name: kind },
  });
  if (kind === "create-post") {
    const hand = media[exec.scenario.name];
    const cycle = Math.floor(iteration / SEQUENCE.length);
    const index = cycle * CREATES_PER_CYCLE + CREATES_BEFORE[iteration % SEQUENCE.length];
    if (index >= hand.length) {
      noMedia.add(1);
      return null;
    }
    const [token, mediaId] = hand[index];
    const body = { mediaIds: [mediaId], caption: inputs.caption, idempotencyKey: hex(16) };
    return http.post(`${EDGE}/api/v1/posts`, JSON.stringify(body), params(token, true));
  }
  const token = pick(readers);
  if (kind === "home-feed") {
    return http.get(`${EDGE}/api/v1/feed?pageSize=${inputs.page_size}&mode=${inputs.mode}`, params(token));
  }
  if (kind === "user-posts") {
    return http.get(`${EDGE}/api/v1/users/${pick(authors)}/posts?pageSize=${inputs.page_size}`, params(token));
  }
  const post = pick(posts);
  if (kind === "like") {
    return http.post(`${EDGE}/api/v1/posts/${post}/like`, null, params(token));
  }
  const text = { text: `Nice! (${Math.floor(Math.random() * 1000000)})` };
  return http.post(`${EDGE}/api/v1/posts/${post}/comments`, JSON.stringify(text), params(token, true));
}

export function setup() {
  if (!EDGE) fail("the inputs name no edge_url");
  // The pre-allocated VUs are ready: what k6 spends from here on is the load's (the wrapper
  // reads k6's CPU when this line appears).
  console.log(LOAD_STARTS);
}

export default function () {
  const iteration = exec.scenario.iterationInTest;
  const kind = SEQUENCE[iteration % SEQUENCE.length];
  const reply = send(kind, iteration);
  // One check per operation, named after it: 2xx is a success, as mixed-edge counts it.
  const ok = check(reply, { [kind]: (r) => r !== null && r.status >= 200 && r.status < 300 });
  if (!ok && exec.scenario.name === "mixed") {
    // k6's summary has no status codes: the wrapper counts these lines (status 0: no answer,
    // k6's error code instead).
    const code = reply === null ? "NO_MEDIA" : reply.status ? String(reply.status) : `k6-${reply.error_code}`;
    console.warn(`${FAILED} ${kind} ${code}`);
  }
}
