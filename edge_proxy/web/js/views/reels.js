// Reels: the Reels tab as a vertical full-screen player (one reel per screen, snapping from one
// to the next), counting views, and an account's reels as a grid.
//
// A reel plays from its HLS playlist where the browser plays HLS itself (Safari, some Chrome
// builds), else from its MP4 rendition: every reel has both, so no player library is needed.

import { api, me } from "../api.js";
import { h, altOf, count, icon, infinite, picture, plural, richText } from "../dom.js";

const PAGE = 10;
// Watching this long (or the whole reel, when shorter) counts a view; the API counts one per
// viewer per day and keeps the longest watch, so later reports only lengthen it.
const VIEW_AFTER_MS = 1000;

let hlsSupport = null;

/** Return the URL to play: the HLS playlist where the browser plays HLS, else the MP4. */
export function playableSource(media) {
  if (hlsSupport === null) {
    hlsSupport = document.createElement("video").canPlayType("application/vnd.apple.mpegurl") !== "";
  }
  if (media.hlsUrl && hlsSupport) return media.hlsUrl;
  return media.videoUrl || media.hlsUrl || "";
}

function reelItem(reel, player) {
  const media = (reel.media || [])[0] || {};
  const author = reel.user || {};
  const video = h("video", {
    class: "reel-video",
    src: playableSource(media),
    poster: media.variants?.story || media.variants?.feed || "",
    preload: "metadata",
    playsinline: true,
    muted: true,
    "aria-label": altOf(reel, 0),
  });
  video.muted = true; // the attribute alone does not mute a video created by script
  // An HLS playlist the browser turned down after all: fall back to the MP4 rendition once.
  video.addEventListener("error", () => {
    if (media.videoUrl && video.getAttribute("src") !== media.videoUrl) {
      video.src = media.videoUrl;
      if (player.active === state) video.play().catch(() => {});
    }
  });
  let liked = Boolean(reel.hasLiked);
  let likes = Number(reel.likeCount || 0);
  const views = h("span", { class: "reel-views" }, plural(reel.viewCount, "view"));
  const likeButton = h("button", { type: "button", class: "reel-act like" });
  function paintLike() {
    // The name holds the number shown ("Like, 3 likes"); aria-pressed says whether it is liked.
    likeButton.setAttribute("aria-pressed", String(liked));
    likeButton.replaceChildren(icon("heart", { filled: liked }), h("span", { class: "visually-hidden" }, "Like, "),
      h("span", {}, count(likes)), h("span", { class: "visually-hidden" }, Number(likes) === 1 ? " like" : " likes"));
    likeButton.classList.toggle("on", liked);
  }
  paintLike();
  likeButton.addEventListener("click", async () => {
    likeButton.disabled = true;
    try {
      const answer = await api(`/posts/${reel.postId}/like`, { method: liked ? "DELETE" : "POST" });
      liked = Boolean(answer.hasLiked);
      likes = Number(answer.likeCount || 0);
      paintLike();
    } catch {
      // The heart stays as it was.
    } finally {
      likeButton.disabled = false;
    }
  });
  const playButton = h("button", { type: "button", class: "reel-act" });
  const soundButton = h("button", { type: "button", class: "reel-act" });
  function paintButtons() {
    const playing = !video.paused;
    playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
    playButton.replaceChildren(icon(playing ? "pause" : "play"));
    soundButton.setAttribute("aria-label", video.muted ? "Turn sound on" : "Turn sound off");
    soundButton.replaceChildren(icon(video.muted ? "mute" : "sound"));
  }
  playButton.addEventListener("click", () => {
    player.userPaused = !video.paused;
    if (video.paused) video.play().catch(() => {});
    else video.pause();
  });
  soundButton.addEventListener("click", () => {
    player.muted = !video.muted;
    video.muted = player.muted;
    paintButtons();
  });
  video.addEventListener("play", paintButtons);
  video.addEventListener("pause", paintButtons);
  video.addEventListener("click", () => playButton.click());
  paintButtons();

  const headingId = `reel-${reel.postId}`;
  const section = h("article", { class: "reel", "aria-labelledby": headingId, dataset: { postId: reel.postId } },
    video,
    h("div", { class: "reel-overlay" },
      h("div", { class: "reel-info" },
        h("h2", { id: headingId }, h("a", { href: `#/u/${encodeURIComponent(author.username || "")}` }, author.username || "someone")),
        reel.caption ? h("p", { class: "reel-caption" }, richText(reel.caption)) : null,
        views),
      h("div", { class: "reel-actions" },
        likeButton,
        h("a", { class: "reel-act", href: `#/p/${reel.postId}` }, icon("comment"), h("span", {}, count(reel.commentCount)),
          h("span", { class: "visually-hidden" }, Number(reel.commentCount) === 1 ? " comment" : " comments")),
        h("a", { class: "reel-act", href: `#/messages/new?share=${reel.postId}`, "aria-label": "Send in a message" }, icon("send")),
        playButton, soundButton)));

  // Views: report once a second is watched (or the reel ended), then again when more was seen.
  let watchedMs = 0;
  let reportedMs = 0;
  const mine = author.userId === me()?.userId;
  async function report() {
    if (mine || watchedMs <= reportedMs || watchedMs < Math.min(VIEW_AFTER_MS, Number(media.durationMs) || VIEW_AFTER_MS)) return;
    reportedMs = watchedMs;
    try {
      const answer = await api(`/reels/${reel.postId}/view`, { method: "POST", body: { watchedMs: Math.round(watchedMs) } });
      views.textContent = plural(answer.viewCount, "view");
    } catch {
      reportedMs = 0; // try again on the next report
    }
  }
  video.addEventListener("timeupdate", () => {
    watchedMs = Math.max(watchedMs, video.currentTime * 1000);
    if (reportedMs === 0 && watchedMs >= VIEW_AFTER_MS) report();
  });
  video.addEventListener("ended", () => {
    watchedMs = Math.max(watchedMs, Number(media.durationMs || 0), video.duration * 1000 || 0);
    report();
    // Reels loop; `loop` would hide the end, which is what counts a reel as watched.
    if (player.active === state) {
      video.currentTime = 0;
      video.play().catch(() => {});
    }
  });

  const state = {
    section,
    video,
    start() {
      video.muted = player.muted;
      paintButtons();
      if (!player.userPaused) video.play().catch(() => {});
    },
    stop() {
      video.pause();
      report();
    },
  };
  return state;
}

/** The Reels tab: one reel per screen, the visible one playing; keys move between them. */
export function reelsView({ main, signal }) {
  const player = { active: null, muted: true, userPaused: false };
  const items = [];
  const list = h("div", { class: "reels", tabindex: "-1" });
  const status = h("p", { class: "status reels-status", role: "status" });
  const prev = h("button", { type: "button", class: "reel-nav secondary", "aria-label": "Previous reel", onclick: () => move(-1) }, icon("up"));
  const next = h("button", { type: "button", class: "reel-nav secondary", "aria-label": "Next reel", onclick: () => move(1) }, icon("down"));
  main.classList.add("reels-main");
  signal.addEventListener("abort", () => {
    main.classList.remove("reels-main");
    player.active?.stop();
  });
  main.append(
    h("div", { class: "reels-head" }, h("h1", {}, "Reels"), h("p", { class: "hint" }, "Up and down arrow keys move between reels."), prev, next),
    list, status);

  let token = "";
  let done = false;
  let busy = false;
  async function load() {
    if (busy || done || signal.aborted) return;
    busy = true;
    status.textContent = items.length ? "" : "Loading…";
    try {
      const page = await api("/reels/feed", { params: { pageSize: PAGE, pageToken: token }, signal });
      for (const reel of page.reels || []) {
        const item = reelItem(reel, player);
        items.push(item);
        list.append(item.section);
        observer.observe(item.section);
      }
      token = page.nextPageToken || "";
      done = !token;
      status.textContent = items.length ? "" : "No reels to watch yet. Share one from “New post”, or follow people who do.";
    } catch (error) {
      if (error.name !== "AbortError") status.textContent = error.message;
    } finally {
      busy = false;
    }
  }

  function activate(item) {
    if (player.active === item) return;
    player.active?.stop();
    player.active = item;
    item.start();
    const index = items.indexOf(item);
    prev.disabled = index <= 0;
    next.disabled = done && index >= items.length - 1;
    if (index >= items.length - 2) load();
  }
  function move(step) {
    const index = items.indexOf(player.active);
    const target = items[Math.max(0, Math.min(items.length - 1, index + step))];
    if (target) {
      target.section.scrollIntoView({ behavior: "smooth", block: "start" });
      activate(target);
    }
  }
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting && entry.intersectionRatio >= 0.6) {
        const item = items.find((i) => i.section === entry.target);
        if (item) activate(item);
      }
    }
  }, { root: list, threshold: [0.6] });
  signal.addEventListener("abort", () => observer.disconnect());
  const keys = (event) => {
    if (event.target.closest?.("input, textarea")) return;
    if (["ArrowDown", "PageDown", "j"].includes(event.key)) move(1);
    else if (["ArrowUp", "PageUp", "k"].includes(event.key)) move(-1);
    else return;
    event.preventDefault();
  };
  document.addEventListener("keydown", keys);
  signal.addEventListener("abort", () => document.removeEventListener("keydown", keys));
  load();
}

/** Return a square tile of a reel for grids: its poster, with how many watched it. */
export function reelTile(reel) {
  const first = (reel.media || [])[0];
  return h("li", { class: "tile" },
    h("a", { href: `#/p/${reel.postId}`, "aria-label": `Reel by ${reel.user?.username || "someone"}, ${plural(reel.viewCount, "view")}${reel.caption ? `: ${reel.caption}` : ""}` },
      first ? picture(first, { alt: "", square: true, sizes: "(max-width: 640px) 33vw, 300px" }) : null,
      h("span", { class: "tile-views", "aria-hidden": "true" }, icon("play"), count(reel.viewCount))));
}

/** An account's reels as a grid (the profile's Reels tab). */
export function reelsGrid(container, { user, signal, self }) {
  const grid = h("ul", { class: "grid", "aria-label": `Reels by ${user.username}` });
  container.append(grid);
  infinite(grid, {
    signal,
    emptyText: self ? "Share your first reel from “New post”." : "No reels yet.",
    load: async (pageToken) => {
      const page = await api(`/users/${user.userId}/reels`, { params: { pageSize: 24, pageToken }, signal });
      return { items: page.reels || [], next: page.nextPageToken };
    },
    render: reelTile,
  });
}
