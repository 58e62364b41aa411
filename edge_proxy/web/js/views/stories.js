// Stories: the tray of rings on the home feed and the full-screen viewer with progress bars.

import { api, me } from "../api.js";
import { h, ago, avatar, errorBox, icon, picture } from "../dom.js";

const STORY_SECONDS = 5;

/** Return the story tray: one ring per account with live stories, unseen ones first. */
export function storyTray(signal) {
  const list = h("ul", { class: "tray" });
  const section = h("section", { class: "tray-wrap", "aria-label": "Stories" }, list);
  const user = me();
  const add = h("li", {}, h("a", { href: "#/new?as=story", class: "ring add" },
    h("span", { class: "ring-pic" }, avatar(user, "large"), h("span", { class: "plus", "aria-hidden": "true" }, "+")),
    h("span", { class: "ring-name" }, "Your story")));
  list.append(add);
  api("/feed/stories", { params: { pageSize: 50 }, signal })
    .then((page) => {
      for (const item of page.items || []) {
        const name = item.isSelf ? "Your story" : item.user.username;
        const stories = `${item.storyCount} ${Number(item.storyCount) === 1 ? "story" : "stories"}`;
        // The name reads "Story by alice, 2 stories, unseen": the visible name within it.
        const ring = h("li", {}, h("a", { href: `#/stories/${item.user.userId}`, class: `ring${item.hasUnseen ? " unseen" : ""}${item.closeFriends ? " close" : ""}` },
          h("span", { class: "ring-pic" }, avatar(item.user, "large")),
          h("span", { class: "visually-hidden" }, item.isSelf ? "" : "Story by "),
          h("span", { class: "ring-name" }, name),
          h("span", { class: "visually-hidden" }, `, ${stories}${item.hasUnseen ? ", unseen" : ""}`)));
        if (item.isSelf) add.replaceWith(ring);
        else list.append(ring);
      }
    })
    .catch((error) => {
      if (error.name !== "AbortError") section.append(errorBox(error));
    });
  return section;
}

/** The full-screen viewer of one account's stories; it moves on to the next unseen ring. */
export async function storyViewer({ main, params, signal }) {
  const userId = params[0];
  const bars = h("div", { class: "bars", "aria-hidden": "true" });
  const stage = h("div", { class: "stage" });
  const caption = h("p", { class: "story-caption" });
  const who = h("div", { class: "story-who" });
  const position = h("p", { class: "visually-hidden", "aria-live": "polite" });
  const close = h("button", { type: "button", class: "close", "aria-label": "Close stories", onclick: () => leave() }, icon("close"));
  const prev = h("button", { type: "button", class: "tap prev", "aria-label": "Previous story", onclick: () => show(index - 1) });
  const next = h("button", { type: "button", class: "tap next", "aria-label": "Next story", onclick: () => show(index + 1) });
  const pause = h("button", { type: "button", class: "pause", "aria-pressed": "false", onclick: () => togglePause() }, "Pause");
  const dialog = h("div", { class: "story-viewer", role: "dialog", "aria-modal": "true", "aria-label": "Stories" },
    h("h1", { class: "visually-hidden" }, "Stories"), bars, who, stage, caption, prev, next, pause, close, position);
  main.append(dialog);
  document.body.classList.add("no-scroll");
  signal.addEventListener("abort", () => {
    document.body.classList.remove("no-scroll");
    document.removeEventListener("keydown", onKey);
    clearTimeout(timer);
  });

  let stories = [];
  let index = 0;
  let timer = null;
  let startedAt = 0;
  let remaining = STORY_SECONDS * 1000;
  let paused = false;

  function leave() {
    location.hash = "#/";
  }
  function onKey(event) {
    if (event.key === "Escape") leave();
    else if (event.key === "ArrowRight") show(index + 1);
    else if (event.key === "ArrowLeft") show(index - 1);
  }
  document.addEventListener("keydown", onKey);

  function togglePause() {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Play" : "Pause";
    const fill = bars.children[index]?.firstChild;
    if (paused) {
      clearTimeout(timer);
      remaining -= Date.now() - startedAt;
      if (fill) fill.style.animationPlayState = "paused";
    } else {
      if (fill) fill.style.animationPlayState = "running";
      run(remaining);
    }
  }
  function run(ms) {
    clearTimeout(timer);
    startedAt = Date.now();
    remaining = ms;
    timer = setTimeout(() => show(index + 1), ms);
  }

  async function nextRing() {
    try {
      const tray = await api("/feed/stories", { params: { pageSize: 50 }, signal });
      const items = tray.items || [];
      const here = items.findIndex((item) => item.user.userId === userId);
      const after = items.slice(here + 1).find((item) => item.hasUnseen && !item.isSelf);
      if (after) {
        location.replace(`#/stories/${after.user.userId}`);
        return;
      }
    } catch {
      // Nothing more to show: close.
    }
    leave();
  }

  function show(i) {
    if (signal.aborted) return;
    if (i < 0) i = 0;
    if (i >= stories.length) {
      clearTimeout(timer);
      nextRing();
      return;
    }
    index = i;
    const story = stories[index];
    [...bars.children].forEach((bar, n) => {
      bar.className = n < index ? "bar done" : n === index ? "bar current" : "bar";
      const fill = bar.firstChild;
      fill.style.animationPlayState = paused ? "paused" : "running";
    });
    who.replaceChildren(avatar(story.user), h("a", { href: `#/u/${encodeURIComponent(story.user.username)}` }, story.user.username), " ", ago(story.createdAt));
    stage.replaceChildren(picture(story.media, { alt: story.caption ? `Story by @${story.user.username}: ${story.caption}` : `Story by @${story.user.username}`, sizes: "100vw", eager: true }));
    const own = story.user.userId === me()?.userId;
    caption.textContent = [story.caption || "", own ? `Seen by ${Number(story.viewCount || 0)}` : ""].filter(Boolean).join(" · ");
    position.textContent = `Story ${index + 1} of ${stories.length} by ${story.user.username}`;
    prev.disabled = index === 0;
    if (!paused) run(STORY_SECONDS * 1000);
    else remaining = STORY_SECONDS * 1000;
    if (!story.seen && story.user.userId !== me()?.userId) {
      story.seen = true;
      api(`/stories/${story.storyId}/seen`, { method: "POST", signal }).catch(() => {});
    }
  }

  try {
    const page = await api(`/users/${userId}/stories`, { params: { pageSize: 50 }, signal });
    stories = page.stories || [];
  } catch (error) {
    if (error.name === "AbortError") return;
    stage.replaceChildren(errorBox(error));
    return;
  }
  if (!stories.length) {
    stage.replaceChildren(h("p", { class: "empty" }, "No stories right now."));
    return;
  }
  for (let n = 0; n < stories.length; n++) {
    const fill = h("span", { class: "fill" });
    fill.style.animationDuration = `${STORY_SECONDS}s`;
    bars.append(h("span", { class: "bar" }, fill));
  }
  const firstUnseen = stories.findIndex((story) => !story.seen);
  show(firstUnseen < 0 ? 0 : firstUnseen);
  close.focus();
}
