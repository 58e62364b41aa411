// The client of Shutter's public HTTP/JSON API (/api/v1): the session, requests with a refresh
// on 401, errors as sentences, uploads and the live streams (notifications, messages).

const SESSION_KEY = "shutter.session";
const BASE = "/api/v1";

// Tokens live in memory and in sessionStorage: they survive a reload of this tab, never reach
// another tab or outlive the browser session, and are never put in a cookie or a URL.
let session = readSession();
const listeners = new Set();

function readSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function saveSession(next) {
  session = next;
  if (next) sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
  else sessionStorage.removeItem(SESSION_KEY);
  for (const listener of listeners) listener(session);
}

/** Call `listener(session)` whenever the session starts, changes user or ends. */
export function onSessionChange(listener) {
  listeners.add(listener);
}

/** Return the signed-in user ({userId, username, ...}) or null. */
export function me() {
  return session ? session.user : null;
}

/** Keep a fresher copy of the signed-in user (after a profile edit). */
export function rememberMe(user) {
  if (session) saveSession({ ...session, user });
}

/** An error the API answered, with a sentence a person can read. */
export class ApiError extends Error {
  constructor(status, body) {
    super(sentence(status, body));
    this.status = status;
    this.reason = reasonOf(body);
    this.body = body;
  }
}

function reasonOf(body) {
  const info = (body?.details || []).find((d) => d.reason);
  return info ? info.reason : "";
}

function capitalise(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function fieldName(path) {
  const last = String(path).split(".").pop() || "";
  return last.replace(/_/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/** Turn an error body ({code, message, details}) into one or more sentences. */
export function sentence(status, body) {
  const violations = (body?.details || []).flatMap((d) => d.fieldViolations || []);
  if (violations.length) {
    return violations.map((v) => capitalise(`${fieldName(v.field)} ${v.description}`)).join(" ");
  }
  if (body?.message) return capitalise(body.message);
  if (status === 0) return "Shutter cannot be reached. Check your connection and try again.";
  if (status === 429) return "Too many requests. Wait a moment and try again.";
  if (status >= 500) return "Something went wrong on Shutter's side. Try again in a moment.";
  return `The request failed (HTTP ${status}).`;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

let refreshing = null;

/** Renew the access token once, however many requests found it expired at the same time. */
function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const refreshToken = session?.refreshToken;
      if (!refreshToken) return false;
      let response;
      try {
        response = await fetch(`${BASE}/auth/refresh`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refreshToken }),
        });
      } catch {
        return false;
      }
      if (!response.ok) {
        // Each refresh token works once: a failed refresh means the session is over.
        saveSession(null);
        return false;
      }
      const tokens = await response.json();
      saveSession({ ...session, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken });
      return true;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function authHeaders() {
  return session ? { Authorization: `Bearer ${session.accessToken}` } : {};
}

/**
 * Call the API and return the parsed JSON answer; throw ApiError with a readable sentence.
 * `options`: method, body (sent as JSON), params (the query string), signal.
 */
export async function api(path, options = {}) {
  const { method = "GET", body, params, signal } = options;
  for (let attempt = 0; ; attempt++) {
    const headers = { ...authHeaders() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(`${BASE}${path}${query(params)}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, null);
    }
    if (response.status === 401 && attempt === 0 && session && (await refresh())) continue;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
}

/** Sign up and start a session. */
export async function register(fields) {
  const answer = await api("/users/register", { method: "POST", body: fields });
  saveSession({ user: answer.user, accessToken: answer.accessToken, refreshToken: answer.refreshToken });
  return answer.user;
}

/** Sign in (the username may be the email) and start a session. */
export async function login(username, password) {
  const answer = await api("/users/login", { method: "POST", body: { username, password } });
  saveSession({ user: answer.user, accessToken: answer.accessToken, refreshToken: answer.refreshToken });
  return answer.user;
}

/** End the session on the server (its refresh token stops working) and here. */
export async function logout() {
  const refreshToken = session?.refreshToken;
  try {
    if (refreshToken) await api("/auth/logout", { method: "POST", body: { refreshToken } });
  } finally {
    saveSession(null);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Upload a photo or video: declare it, PUT the bytes where the API says, complete it with a
 * filter and wait until it is processed (a video: until its first rendition plays).
 * `progress(step)` hears "uploading", "processing". Returns the media.
 */
export async function uploadPhoto(file, { filter = "", progress = () => {} } = {}) {
  const contentType = file.type || "application/octet-stream";
  const upload = await api("/uploads", {
    method: "POST",
    body: { contentType, sizeBytes: file.size },
  });
  progress("uploading");
  const target = new URL(upload.uploadUrl, location.href);
  // Our own token goes only to our own origin; an object store gets the headers it signed.
  const headers = { ...(upload.uploadHeaders || {}) };
  if (target.origin === location.origin) Object.assign(headers, authHeaders());
  if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) {
    headers["Content-Type"] = contentType;
  }
  let sent;
  try {
    sent = await fetch(target, { method: upload.uploadMethod || "PUT", headers, body: file });
  } catch {
    throw new ApiError(0, null);
  }
  if (!sent.ok) {
    let data = null;
    try {
      data = await sent.json();
    } catch {
      data = null;
    }
    throw new ApiError(sent.status, data);
  }
  progress("processing");
  await api(`/uploads/${upload.uploadId}/complete`, { method: "POST", body: { filter } });
  const deadline = Date.now() + 120000;
  for (let wait = 150; ; wait = Math.min(wait * 1.5, 1500)) {
    const state = await api(`/uploads/${upload.uploadId}`);
    if (state.status === "UPLOAD_STATUS_READY") return state.media;
    if (state.status === "UPLOAD_STATUS_FAILED") {
      throw new ApiError(422, { message: state.failureReason || "the upload could not be processed" });
    }
    if (Date.now() > deadline) throw new ApiError(504, { message: "processing the upload took too long" });
    await sleep(wait);
  }
}

/**
 * Follow a Server-Sent Events stream of the API (read with fetch, so the Authorization header
 * goes along), reconnecting with Last-Event-ID. `handlers` maps an event type to the function
 * called with the parsed JSON of each event of that type; stops when `signal` aborts.
 */
export async function streamEvents(path, handlers, signal) {
  let lastId = "";
  let retryMs = 2000;
  while (!signal.aborted && session) {
    try {
      const headers = { ...authHeaders(), Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(`${BASE}${path}`, { headers, signal });
      if (response.status === 401) {
        if (!(await refresh())) return;
        continue;
      }
      if (!response.ok || !response.body) {
        await sleep(retryMs * 2);
        continue;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = { type: "message", data: [], id: null };
          for (const line of block.split("\n")) {
            if (!line || line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") event.type = text;
            else if (field === "data") event.data.push(text);
            else if (field === "id") event.id = text;
            else if (field === "retry" && /^\d+$/.test(text)) retryMs = Number(text);
          }
          if (event.id !== null) lastId = event.id;
          const handler = handlers[event.type];
          if (handler && event.data.length) handler(JSON.parse(event.data.join("\n")));
        }
      }
    } catch (error) {
      if (signal.aborted || error.name === "AbortError") return;
    }
    await sleep(retryMs);
  }
}

/** Follow the notification stream: `onNotification(notification)` for each one. */
export function streamNotifications(onNotification, signal) {
  return streamEvents("/notifications/stream", { notification: onNotification }, signal);
}

/**
 * Follow the direct-message stream: `onMessage(message)` for each new message, `onUnsent({
 * conversationId, messageId })` for each message its sender unsent.
 */
export function streamMessages(onMessage, onUnsent, signal) {
  return streamEvents("/conversations/stream", { message: onMessage, unsent: onUnsent }, signal);
}
