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

/** Return the text a screen reader hears for a post's photo (the API stores no alt text). */
export function altOf(post, index = 0) {
  const who = post?.user?.username ? `@${post.user.username}` : "someone";
  const total = post?.media?.length || 1;
  const which = total > 1 ? ` (${index + 1} of ${total})` : "";
  const caption = (post?.caption || "").trim();
  return caption ? `Photo by ${who}${which}: ${caption}` : `Photo by ${who}${which}`;
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
