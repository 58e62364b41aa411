// Small DOM helpers: elements without innerHTML (so no text from the API is ever parsed as
// markup), pictures from media variants, captions with links, times, messages.

/** Return a new element: h("a", {href: "#/", class: "x", onclick: fn}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value") {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Return a number as people read it: 999, 1.2K, 3.4M. */
export function count(n) {
  const value = Number(n || 0);
  if (value < 1000) return String(value);
  if (value < 1e6) return `${(value / 1e3).toFixed(value < 1e4 ? 1 : 0).replace(/\.0$/, "")}K`;
  return `${(value / 1e6).toFixed(1).replace(/\.0$/, "")}M`;
}

/** Return "1 like" or "2 likes". */
export function plural(n, one, many = `${one}s`) {
  return `${count(n)} ${Number(n) === 1 ? one : many}`;
}

/** Return a <time> saying how long ago, with the full date on hover. */
export function ago(timestamp) {
  if (!timestamp) return null;
  const when = new Date(timestamp);
  const seconds = Math.max(0, (Date.now() - when.getTime()) / 1000);
  let text;
  if (seconds < 60) text = "just now";
  else if (seconds < 3600) text = `${Math.floor(seconds / 60)} min ago`;
  else if (seconds < 86400) text = `${Math.floor(seconds / 3600)} h ago`;
  else if (seconds < 7 * 86400) text = `${Math.floor(seconds / 86400)} d ago`;
  else text = when.toLocaleDateString();
  return h("time", { datetime: when.toISOString(), title: when.toLocaleString() }, text);
}

/**
 * Return a <picture> of one photo: WebP sources where the media has them, JPEG otherwise, a
 * srcset over the 640 and 1080 wide variants, and `sizes` for the layout it sits in.
 */
export function picture(media, { alt = "", sizes = "(max-width: 640px) 100vw, 600px", square = false, eager = false } = {}) {
  const v = media?.variants || {};
  const width = Number(media?.width || 1080);
  const height = Number(media?.height || 1080);
  const set = (small, large) => {
    const parts = [];
    if (small) parts.push(`${small} ${Math.min(640, width)}w`);
    if (large && large !== small) parts.push(`${large} ${Math.min(1080, width)}w`);
    return parts.join(", ");
  };
  const pic = h("picture", { class: square ? "pic square" : "pic" });
  if (square) {
    if (v.thumbnailWebp || v.feedWebp) {
      pic.append(h("source", { type: "image/webp", srcset: `${v.thumbnailWebp || v.feedWebp} 150w, ${v.feedWebp || v.thumbnailWebp} 640w`, sizes }));
    }
  } else if (v.feedWebp || v.fullWebp) {
    pic.append(h("source", { type: "image/webp", srcset: set(v.feedWebp, v.fullWebp), sizes }));
  }
  const img = h("img", {
    src: square ? v.thumbnail || v.feed : v.feed || v.full || v.thumbnail,
    srcset: square ? `${v.thumbnail} 150w, ${v.feed || v.thumbnail} 640w` : set(v.feed, v.full),
    sizes,
    alt,
    loading: eager ? "eager" : "lazy",
    decoding: "async",
    width: square ? 150 : Math.min(1080, width),
    height: square ? 150 : Math.round((Math.min(1080, width) * height) / width),
  });
  pic.append(img);
  return pic;
}

/**
 * Return the text a screen reader hears for a post's photo or video: the alt text its author
 * gave, else a description made from who posted it and the caption.
 */
export function altOf(post, index = 0) {
  const item = post?.media?.[index];
  const given = (item?.altText || "").trim();
  if (given) return given;
  const who = post?.user?.username ? `@${post.user.username}` : "someone";
  const what = item?.type === "MEDIA_TYPE_VIDEO" ? "Video" : "Photo";
  const total = post?.media?.length || 1;
  const which = total > 1 ? ` (${index + 1} of ${total})` : "";
  const caption = (post?.caption || "").trim();
  return caption ? `${what} by ${who}${which}: ${caption}` : `${what} by ${who}${which}`;
}

/** Return a caption's text with #tags and @mentions as links. */
export function richText(text) {
  const out = [];
  const pattern = /([#@])([\p{L}\p{N}_.]+)/gu;
  let last = 0;
  for (const match of String(text || "").matchAll(pattern)) {
    const before = match.index > 0 ? text[match.index - 1] : " ";
    if (/[\p{L}\p{N}_]/u.test(before)) continue;
    out.push(text.slice(last, match.index));
    const name = match[2].replace(/\.+$/, "");
    const href = match[1] === "#" ? `#/tags/${encodeURIComponent(name.toLowerCase())}` : `#/u/${encodeURIComponent(name)}`;
    out.push(h("a", { href }, `${match[1]}${name}`));
    last = match.index + 1 + name.length;
  }
  out.push(String(text || "").slice(last));
  return out;
}

/** Return a round avatar: the profile photo or the first letter of the name. */
export function avatar(user, size = "small") {
  const name = user?.username || "?";
  if (user?.profilePicUrl) {
    return h("img", { class: `avatar ${size}`, src: user.profilePicUrl, alt: "", width: 40, height: 40 });
  }
  return h("span", { class: `avatar ${size} letter`, "aria-hidden": "true" }, name[0].toUpperCase());
}

/** Return a paragraph announcing an error to the reader (and to screen readers). */
export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error?.message || String(error));
}

/** Show a short message in the corner for a few seconds. */
export function toast(text) {
  const box = document.getElementById("toasts");
  const item = h("p", { class: "toast" }, text);
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

/** Return an empty-state paragraph. */
export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/**
 * Fill `list` page by page from `load(pageToken)` → {items, next} as the reader scrolls near
 * its end (and with a "Load more" button for keyboards). Stops when `signal` aborts.
 */
export function infinite(container, { load, render, signal, emptyText = "Nothing here yet." }) {
  let token = "";
  let busy = false;
  let done = false;
  let shown = 0;
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const more = h("button", { type: "button", class: "more", onclick: () => next() }, "Load more");
  const status = h("p", { class: "status", role: "status" });
  const footer = h("div", { class: "list-footer" }, status, more);
  container.after(sentinel, footer);
  more.hidden = true;
  async function next() {
    if (busy || done || signal.aborted) return;
    busy = true;
    status.textContent = "Loading…";
    more.hidden = true;
    try {
      const page = await load(token);
      if (signal.aborted) return;
      for (const item of page.items) container.append(render(item));
      shown += page.items.length;
      token = page.next || "";
      done = !token;
      status.textContent = "";
      if (done && shown === 0) footer.replaceChildren(empty(emptyText));
      more.hidden = done;
    } catch (error) {
      if (error.name === "AbortError") return;
      status.replaceChildren(errorBox(error));
      more.hidden = false;
      more.textContent = "Try again";
    } finally {
      busy = false;
    }
    // A short first page may leave the sentinel on screen: keep filling.
    if (!done && isVisible(sentinel)) next();
  }
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) next();
  }, { rootMargin: "600px" });
  observer.observe(sentinel);
  signal.addEventListener("abort", () => observer.disconnect());
  next();
}

function isVisible(el) {
  const box = el.getBoundingClientRect();
  return box.top < window.innerHeight + 600;
}

// Line icons drawn as SVG paths (24×24), so they look the same whatever fonts a machine has.
const ICONS = {
  home: "M3 11.5 12 4l9 7.5V20a1 1 0 0 1-1 1h-5v-6H9v6H4a1 1 0 0 1-1-1z",
  search: "M10.5 4a6.5 6.5 0 1 1 0 13 6.5 6.5 0 0 1 0-13zM15.5 15.5 21 21",
  explore: "M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18zM15.5 8.5l-2 5-5 2 2-5z",
  plus: "M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zM12 8v8M8 12h8",
  heart: "M12 20s-7-4.5-9.2-9A5 5 0 0 1 12 6a5 5 0 0 1 9.2 5C19 15.5 12 20 12 20z",
  user: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM5 21a7 7 0 0 1 14 0",
  logout: "M15 4h4a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1h-4M10 17l5-5-5-5M15 12H4",
  comment: "M21 12a8.5 8.5 0 0 1-12.5 7.5L3 21l1.5-5.5A8.5 8.5 0 1 1 21 12z",
  open: "M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5",
  bookmark: "M6 3h12v18l-6-5-6 5z",
  close: "M6 6l12 12M18 6 6 18",
  prev: "M15 5l-7 7 7 7",
  next: "M9 5l7 7-7 7",
  multi: "M8 8h12v12H8zM4 16V4h12",
  lock: "M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4",
  check: "M12 2.5a9.5 9.5 0 1 1 0 19 9.5 9.5 0 0 1 0-19zM7.5 12l3 3 6-6",
  pin: "M12 21s-7-6.5-7-12a7 7 0 0 1 14 0c0 5.5-7 12-7 12zM12 11.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z",
  tag: "M9 4 7 20M17 4l-2 16M4 9h17M3 15h17",
  send: "M21 3 3 10.5l7 2.5 2.5 7zM21 3 10 13",
  reels: "M4 4h16v16H4zM4 9h16M9 4l2 5M15 4l2 5M10.5 12.5v5l4-2.5z",
  play: "M7 4.5v15l12-7.5z",
  pause: "M7 5h3v14H7zM14 5h3v14h-3z",
  sound: "M4 9h4l5-4v14l-5-4H4zM16.5 8.5a5 5 0 0 1 0 7M19 6a8.5 8.5 0 0 1 0 12",
  mute: "M4 9h4l5-4v14l-5-4H4zM17 9.5l5 5M22 9.5l-5 5",
  image: "M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15.5 8.5a1 1 0 1 0 0 .1",
  eye: "M2 12s3.5-6.5 10-6.5S22 12 22 12s-3.5 6.5-10 6.5S2 12 2 12zM12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
  up: "M5 15l7-7 7 7",
  down: "M5 9l7 7 7-7",
};

/** Return an icon (decorative: hidden from screen readers, which read the control's name). */
export function icon(name, { filled = false } = {}) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon-svg${filled ? " filled" : ""}`);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}
