// k6 script: the read side of a client through the edge (HTTP/JSON), open loop.
//
// Each iteration is one user's visit: their home feed (a page of 20), a user's posts (a profile
// grid, a page of 20) and that user's profile. Requests are tagged `name` so each has its own
// line and threshold in the summary. Sessions come from logging in through the edge in setup()
// (POST /api/v1/users/login), one per seeded account used.
//
// Environment (all optional except EDGE_URL; `shutter bench k6 edge` sets them from a manifest):
//   EDGE_URL       the edge, e.g. http://127.0.0.1:8080
//   USERS_FILE     JSON list of {"username", "password", "user_id"}: who logs in and who is
//                  looked at (default: one account from USERNAME/PASSWORD, or TOKEN alone)
//   USERNAME, PASSWORD, TOKEN, USER_ID   one account, when there is no USERS_FILE
//   LOGINS         how many accounts of USERS_FILE log in (default 20; each login is argon2)
//   RATE           visits per second (default 10), DURATION (default "10s"), VUS (default 50)
//   MODE           FEED_MODE_RANKED (default) or FEED_MODE_CHRONOLOGICAL
//   P99_MS         the p99 each request kind must stay under (default 100)
import http from "k6/http";
import { check, fail } from "k6";
import { SharedArray } from "k6/data";

const EDGE = (__ENV.EDGE_URL || "").replace(/\/$/, "");
const RATE = Number(__ENV.RATE || 10);
const DURATION = __ENV.DURATION || "10s";
const VUS = Number(__ENV.VUS || 50);
const LOGINS = Number(__ENV.LOGINS || 20);
const MODE = __ENV.MODE || "FEED_MODE_RANKED";
const P99 = Number(__ENV.P99_MS || 100);

const people = new SharedArray("users", () =>
  __ENV.USERS_FILE
    ? JSON.parse(open(__ENV.USERS_FILE))
    : [{ username: __ENV.USERNAME || "", password: __ENV.PASSWORD || "", user_id: __ENV.USER_ID || "" }],
);

export const options = {
  scenarios: {
    visits: {
      executor: "constant-arrival-rate", // open loop: a slow answer does not slow the senders
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: VUS * 4,
    },
  },
  thresholds: {
    http_req_failed: ["rate==0"],
    "http_req_duration{name:home_feed}": [`p(99)<${P99}`],
    "http_req_duration{name:user_posts}": [`p(99)<${P99}`],
    "http_req_duration{name:profile}": [`p(99)<${P99}`],
    checks: ["rate==1"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "max"],
};

export function setup() {
  if (!EDGE) fail("EDGE_URL is required");
  if (__ENV.TOKEN) {
    return { sessions: [{ token: __ENV.TOKEN, user_id: __ENV.USER_ID || "" }] };
  }
  const sessions = [];
  for (const person of people.slice(0, Math.max(1, LOGINS))) {
    const reply = http.post(
      `${EDGE}/api/v1/users/login`,
      JSON.stringify({ username: person.username, password: person.password }),
      { headers: { "Content-Type": "application/json" }, tags: { name: "login" } },
    );
    if (reply.status !== 200) fail(`login of ${person.username}: HTTP ${reply.status} ${reply.body}`);
    const body = reply.json();
    sessions.push({ token: body.accessToken, user_id: String(body.user.userId) });
  }
  return { sessions };
}

export default function (data) {
  const me = data.sessions[__ITER % data.sessions.length];
  const them = people[(__VU * 7919 + __ITER) % people.length];
  const params = (name) => ({ headers: { Authorization: `Bearer ${me.token}` }, tags: { name } });
  const feed = http.get(`${EDGE}/api/v1/feed?pageSize=20&mode=${MODE}`, params("home_feed"));
  check(feed, { "home feed 200": (r) => r.status === 200 });
  const who = them.user_id || me.user_id;
  const grid = http.get(`${EDGE}/api/v1/users/${who}/posts?pageSize=20`, params("user_posts"));
  check(grid, { "user posts 200": (r) => r.status === 200 });
  const profile = http.get(`${EDGE}/api/v1/users/${who}`, params("profile"));
  check(profile, { "profile 200": (r) => r.status === 200 });
}
