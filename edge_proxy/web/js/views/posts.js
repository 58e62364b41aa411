// Posts: the card (likes and comments inline), the home feed, a post's page, explore, a tag's
// posts and a place's posts.

import { api, me } from "../api.js";
import { h, ago, altOf, avatar, count, empty, errorBox, icon, infinite, picture, plural, richText, toast } from "../dom.js";
import { storyTray } from "./stories.js";

const PAGE = 10;
const FEED_MODE_KEY = "shutter.feedMode";

function placeHref(post) {
  const where = post.location;
  const params = new URLSearchParams({ name: where.name, lat: where.lat ?? 0, lng: where.lng ?? 0 });
  return `#/places/${post.placeId || 0}?${params}`;
}

function mediaView(post, item, index, eager) {
  if (item.type === "MEDIA_TYPE_VIDEO" && item.videoUrl) {
    return h("video", {
      class: "pic",
      controls: true,
      preload: "metadata",
      poster: item.variants?.feed || "",
      src: item.videoUrl,
      "aria-label": altOf(post, index),
    });
  }
  return picture(item, { alt: altOf(post, index), eager });
}

function carousel(post, eager) {
  const items = post.media || [];
  if (items.length <= 1) return h("div", { class: "post-media" }, items.length ? mediaView(post, items[0], 0, eager) : null);
  let index = 0;
  const frame = h("div", { class: "post-media" });
  const position = h("span", { class: "position", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "nav prev", "aria-label": "Previous photo", onclick: () => show(index - 1) }, icon("prev"));
  const next = h("button", { type: "button", class: "nav next", "aria-label": "Next photo", onclick: () => show(index + 1) }, icon("next"));
  function show(i) {
    index = Math.max(0, Math.min(items.length - 1, i));
    frame.replaceChildren(mediaView(post, items[index], index, eager), prev, next, position);
    prev.disabled = index === 0;
    next.disabled = index === items.length - 1;
    position.textContent = `${index + 1} / ${items.length}`;
  }
  show(0);
  return frame;
}

function commentItem(comment) {
  return h("li", { class: "comment" },
    h("a", { href: `#/u/${encodeURIComponent(comment.user?.username || "")}`, class: "who" }, comment.user?.username || "someone"),
    " ", richText(comment.text), " ", ago(comment.createdAt));
}

/** Return a post as a card: author, photos, like and save buttons, caption, comments. */
export function postCard(post, { full = false, eager = false } = {}) {
  const headingId = `post-${post.postId}-by`;
  const author = post.user || {};
  let liked = Boolean(post.hasLiked);
  let likes = Number(post.likeCount || 0);
  let saved = Boolean(post.hasSaved);
  let comments = Number(post.commentCount || 0);

  const likeButton = h("button", { type: "button", class: "act like" });
  const likeCount = h("p", { class: "likes" });
  const saveButton = h("button", { type: "button", class: "act save" });
  const message = h("div", { class: "post-message" });
  function paint() {
    likeButton.setAttribute("aria-pressed", String(liked));
    likeButton.setAttribute("aria-label", liked ? "Unlike" : "Like");
    likeButton.replaceChildren(icon("heart", { filled: liked }));
    likeButton.classList.toggle("on", liked);
    likeCount.textContent = plural(likes, "like");
    saveButton.setAttribute("aria-pressed", String(saved));
    saveButton.setAttribute("aria-label", saved ? "Remove from saved" : "Save");
    saveButton.replaceChildren(icon("bookmark", { filled: saved }));
  }
  paint();
  likeButton.addEventListener("click", async () => {
    likeButton.disabled = true;
    message.replaceChildren();
    try {
      const answer = await api(`/posts/${post.postId}/like`, { method: liked ? "DELETE" : "POST" });
      liked = Boolean(answer.hasLiked);
      likes = Number(answer.likeCount || 0);
      paint();
    } catch (error) {
      message.replaceChildren(errorBox(error));
    } finally {
      likeButton.disabled = false;
    }
  });
  saveButton.addEventListener("click", async () => {
    saveButton.disabled = true;
    try {
      const answer = await api(`/posts/${post.postId}/save`, { method: saved ? "DELETE" : "POST" });
      saved = Boolean(answer.hasSaved);
      paint();
    } catch (error) {
      message.replaceChildren(errorBox(error));
    } finally {
      saveButton.disabled = false;
    }
  });

  const list = h("ul", { class: "comments", "aria-label": "Comments" });
  const moreComments = h("button", { type: "button", class: "link" });
  function paintMore() {
    moreComments.hidden = comments === 0 || full || list.childElementCount > 0;
    moreComments.textContent = comments === 1 ? "View 1 comment" : `View all ${count(comments)} comments`;
  }
  paintMore();
  async function loadComments() {
    moreComments.hidden = true;
    try {
      const page = await api(`/posts/${post.postId}/comments`, { params: { pageSize: 50 } });
      list.replaceChildren(...(page.comments || []).map(commentItem));
    } catch (error) {
      list.replaceChildren(h("li", {}, errorBox(error)));
    }
  }
  moreComments.addEventListener("click", loadComments);
  if (full && comments > 0) loadComments();

  const inputId = `comment-${post.postId}-${Math.random().toString(36).slice(2, 8)}`;
  const input = h("input", { id: inputId, name: "text", autocomplete: "off", placeholder: "Add a comment…", maxlength: 2200, required: true });
  const send = h("button", { type: "submit", class: "link strong" }, "Post");
  const form = h("form", { class: "comment-form" }, h("label", { for: inputId, class: "visually-hidden" }, `Comment on ${author.username}'s post`), input, send);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    send.disabled = true;
    message.replaceChildren();
    try {
      const comment = await api(`/posts/${post.postId}/comments`, { method: "POST", body: { text } });
      list.append(commentItem({ ...comment, user: comment.user?.username ? comment.user : me() }));
      comments += 1;
      paintMore();
      input.value = "";
    } catch (error) {
      message.replaceChildren(errorBox(error));
    } finally {
      send.disabled = false;
    }
  });
  const commentButton = h("button", { type: "button", class: "act", "aria-label": "Comment", onclick: () => input.focus() }, icon("comment"));

  const actions = h("div", { class: "actions" }, likeButton, commentButton,
    h("a", { class: "act", href: `#/messages/new?share=${post.postId}`, "aria-label": "Send in a message" }, icon("send")),
    h("a", { class: "act", href: `#/p/${post.postId}`, "aria-label": "Open the post" }, icon("open")), h("span", { class: "grow" }), saveButton);
  const mine = me() && author.userId === me().userId;
  const remove = mine && full
    ? h("button", { type: "button", class: "link danger", onclick: async () => {
        if (!confirm("Delete this post? This cannot be undone.")) return;
        try {
          await api(`/posts/${post.postId}`, { method: "DELETE" });
          toast("The post was deleted.");
          location.hash = `#/u/${encodeURIComponent(author.username)}`;
        } catch (error) {
          message.replaceChildren(errorBox(error));
        }
      } }, "Delete post")
    : null;

  return h("article", { class: "post card", "aria-labelledby": headingId, dataset: { postId: post.postId } },
    h("header", { class: "post-head" },
      avatar(author),
      h("div", {},
        h("h2", { id: headingId, class: "post-author" }, h("a", { href: `#/u/${encodeURIComponent(author.username || "")}` }, author.username || "someone")),
        post.location ? h("a", { class: "place", href: placeHref(post) }, post.location.name) : null),
      h("span", { class: "grow" }),
      h("a", { href: `#/p/${post.postId}`, class: "when" }, ago(post.createdAt))),
    carousel(post, eager),
    actions,
    likeCount,
    post.caption ? h("p", { class: "caption" }, h("a", { href: `#/u/${encodeURIComponent(author.username || "")}`, class: "who" }, author.username), " ", richText(post.caption)) : null,
    moreComments,
    list,
    form,
    message,
    remove,
  );
}

/** Return a square tile of a post for grids, linking to its page. */
export function postTile(post) {
  const first = (post.media || [])[0];
  return h("li", { class: "tile" },
    h("a", { href: `#/p/${post.postId}`, "aria-label": `Post by ${post.user?.username || "someone"}${post.caption ? `: ${post.caption}` : ""}` },
      first ? picture(first, { alt: "", square: true, sizes: "(max-width: 640px) 33vw, 300px" }) : null,
      (post.media || []).length > 1 ? h("span", { class: "multi" }, icon("multi", { filled: false })) : null));
}

/** The home feed: the story tray, ranked or latest first, scrolling without end. */
export function feedView({ main, signal }) {
  let mode = sessionStorage.getItem(FEED_MODE_KEY) || "FEED_MODE_RANKED";
  const holder = h("section", { "aria-label": "Posts" });
  let listSignal = null;
  const modes = [["FEED_MODE_RANKED", "For you"], ["FEED_MODE_CHRONOLOGICAL", "Latest"]];
  // The same buttons stay (only aria-pressed changes), so keyboard focus stays on them.
  const buttons = modes.map(([value, label]) => h("button", { type: "button", onclick: () => {
    mode = value;
    sessionStorage.setItem(FEED_MODE_KEY, mode);
    paintToggle();
    start();
  } }, label));
  const toggle = h("div", { class: "segmented", role: "group", "aria-label": "Feed order" }, buttons);
  function paintToggle() {
    modes.forEach(([value], n) => buttons[n].setAttribute("aria-pressed", String(mode === value)));
  }
  function start() {
    listSignal?.abort();
    listSignal = new AbortController();
    signal.addEventListener("abort", () => listSignal.abort());
    const fresh = h("div", { class: "feed" });
    holder.replaceChildren(fresh);
    let first = true;
    infinite(fresh, {
      signal: listSignal.signal,
      emptyText: "Your feed is empty. Follow people to see their posts here, or look around in Explore.",
      load: async (token) => {
        const page = await api("/feed", { params: { pageSize: PAGE, pageToken: token, mode }, signal: listSignal.signal });
        return { items: page.posts || [], next: page.nextPageToken };
      },
      render: (post) => {
        const card = postCard(post, { eager: first });
        first = false;
        return card;
      },
    });
  }
  paintToggle();
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Home"), toggle),
    storyTray(signal),
    holder,
  );
  start();
}

/** One post with all its comments. */
export async function postView({ main, params }) {
  try {
    const post = await api(`/posts/${params[0]}`);
    main.append(h("h1", { class: "visually-hidden" }, `Post by ${post.user?.username || "someone"}`), postCard(post, { full: true, eager: true }));
  } catch (error) {
    main.append(h("h1", {}, "Post"), errorBox(error));
  }
}

function grid(main, signal, { load, emptyText }) {
  const list = h("ul", { class: "grid" });
  main.append(list);
  infinite(list, { signal, load, render: postTile, emptyText });
}

/** Popular posts from accounts the viewer does not follow yet. */
export function exploreView({ main, signal }) {
  main.append(h("h1", {}, "Explore"));
  grid(main, signal, {
    emptyText: "Nothing to explore yet.",
    load: async (token) => {
      const page = await api("/explore", { params: { pageSize: 24, pageToken: token }, signal });
      return { items: page.posts || [], next: page.nextPageToken };
    },
  });
}

/** The posts of one hashtag. */
export function tagView({ main, params, signal }) {
  const tag = params[0];
  const countLine = h("p", { class: "muted" });
  main.append(h("h1", {}, `#${tag}`), countLine);
  grid(main, signal, {
    emptyText: `No posts with #${tag} yet.`,
    load: async (token) => {
      const page = await api(`/hashtags/${encodeURIComponent(tag)}/posts`, { params: { pageSize: 24, pageToken: token }, signal });
      if (page.hashtag) countLine.textContent = plural(page.hashtag.postCount, "post");
      return { items: page.posts || [], next: page.nextPageToken };
    },
  });
}

/** Posts made near a place, the nearest first. */
export function placeView({ main, query, signal }) {
  const name = query.get("name") || "A place";
  const lat = Number(query.get("lat"));
  const lng = Number(query.get("lng"));
  main.append(h("h1", {}, name), h("p", { class: "muted" }, `Posts within 1 km of ${lat.toFixed(4)}, ${lng.toFixed(4)}`));
  if (!Number.isFinite(lat) || !Number.isFinite(lng)) {
    main.append(empty("This place has no coordinates."));
    return;
  }
  grid(main, signal, {
    emptyText: "No posts near here yet.",
    load: async (token) => {
      const page = await api("/places/nearby", { params: { lat, lng, radiusKm: 1, pageSize: 24, pageToken: token }, signal });
      return { items: page.posts || [], next: page.nextPageToken };
    },
  });
}
