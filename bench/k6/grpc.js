// k6 script: feed_svc over gRPC, found through server reflection, open loop.
//
// Two scenarios at the same rate, one after the other: the empty RPC first
// (grpc.health.v1.Health/Check, the baseline of the same server in the same run), then
// shutter.feed.v1.FeedService/GetHomeFeed (a page of 20) with a user's access token in the
// `authorization` metadata. Each request kind has its own threshold line in the summary.
//
// Environment (`shutter bench k6 grpc` sets them from a manifest):
//   GRPC_ADDR    feed_svc's host:port, e.g. 127.0.0.1:50055 (required)
//   TOKENS_FILE  JSON list of access tokens (one per reader), or TOKEN: one token
//   RATE         calls per second (default 10), DURATION per scenario (default "10s"), VUS (50)
//   MODE         FEED_MODE_RANKED (default) or FEED_MODE_CHRONOLOGICAL
//   P99_MS       the p99 each method must stay under (default 100)
import grpc from "k6/net/grpc";
import { check, fail } from "k6";
import { SharedArray } from "k6/data";

const ADDR = __ENV.GRPC_ADDR || "";
const RATE = Number(__ENV.RATE || 10);
const DURATION = __ENV.DURATION || "10s";
const VUS = Number(__ENV.VUS || 50);
const MODE = __ENV.MODE || "FEED_MODE_RANKED";
const P99 = Number(__ENV.P99_MS || 100);

const tokens = new SharedArray("tokens", () =>
  __ENV.TOKENS_FILE ? JSON.parse(open(__ENV.TOKENS_FILE)) : [__ENV.TOKEN || ""],
);

function seconds(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!match) return 10;
  const unit = { ms: 0.001, s: 1, m: 60 }[match[2]];
  return Number(match[1]) * unit;
}

const scenario = (exec, startTime) => ({
  executor: "constant-arrival-rate",
  exec,
  rate: RATE,
  timeUnit: "1s",
  duration: DURATION,
  startTime,
  preAllocatedVUs: VUS,
  maxVUs: VUS * 4,
});

export const options = {
  scenarios: {
    check_baseline: scenario("baseline", "0s"),
    home_feed: scenario("homeFeed", `${seconds(DURATION) + 1}s`),
  },
  thresholds: {
    "grpc_req_duration{scenario:check_baseline}": [`p(99)<${P99}`],
    "grpc_req_duration{scenario:home_feed}": [`p(99)<${P99}`],
    checks: ["rate==1"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "max"],
};

const client = new grpc.Client();
let connected = false;

function connect() {
  if (!ADDR) fail("GRPC_ADDR is required");
  if (!connected) {
    // Reflection: no .proto files needed, the server describes its own services.
    client.connect(ADDR, { plaintext: true, reflect: true, timeout: "10s" });
    connected = true;
  }
}

export function baseline() {
  connect();
  const reply = client.invoke("grpc.health.v1.Health/Check", {});
  check(reply, { "Check OK": (r) => r && r.status === grpc.StatusOK });
}

export function homeFeed() {
  connect();
  const token = tokens[(__VU * 7919 + __ITER) % tokens.length];
  const reply = client.invoke(
    "shutter.feed.v1.FeedService/GetHomeFeed",
    { pageSize: 20, mode: MODE },
    { metadata: { authorization: `Bearer ${token}` } },
  );
  check(reply, { "GetHomeFeed OK": (r) => r && r.status === grpc.StatusOK });
}
