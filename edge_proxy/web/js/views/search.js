// Search: people, tags and places, as you type.

import { api } from "../api.js";
import { h, avatar, empty, errorBox, icon, plural } from "../dom.js";

const KINDS = [
  ["people", "People"],
  ["tags", "Tags"],
  ["places", "Places"],
];

function personResult(user) {
  return h("li", { class: "person" }, avatar(user),
    h("a", { href: `#/u/${encodeURIComponent(user.username)}` }, user.username),
    user.fullName ? h("span", { class: "muted" }, user.fullName) : null);
}

function tagResult(tag) {
  return h("li", { class: "person" }, h("span", { class: "avatar small letter", "aria-hidden": "true" }, icon("tag")),
    h("a", { href: `#/tags/${encodeURIComponent(tag.tag)}` }, `#${tag.tag}`),
    h("span", { class: "muted" }, plural(tag.postCount, "post")));
}

function placeResult(place) {
  const params = new URLSearchParams({ name: place.name, lat: place.lat ?? 0, lng: place.lng ?? 0 });
  return h("li", { class: "person" }, h("span", { class: "avatar small letter", "aria-hidden": "true" }, icon("pin")),
    h("a", { href: `#/places/${place.placeId}?${params}` }, place.name),
    h("span", { class: "muted" }, plural(place.postCount, "post")));
}

/** The search screen; the query and the kind live in the URL, so results can be shared. */
export function searchView({ main, query, signal }) {
  let kind = KINDS.some(([k]) => k === query.get("kind")) ? query.get("kind") : "people";
  const input = h("input", { id: "search-q", type: "search", name: "q", value: query.get("q") || "", autocomplete: "off", maxlength: 100 });
  const results = h("ul", { class: "people results", "aria-live": "polite" });
  const tabs = h("fieldset", { class: "segmented-radio" }, h("legend", { class: "visually-hidden" }, "Search for"),
    ...KINDS.map(([value, label]) => h("label", {}, h("input", { type: "radio", name: "kind", value, checked: value === kind, onchange: () => { kind = value; run(); } }), label)));
  const form = h("form", { class: "search-form", role: "search", onsubmit: (event) => { event.preventDefault(); run(); } },
    h("label", { for: "search-q" }, "Search Shutter"), input, tabs);
  main.append(h("h1", {}, "Search"), form, results);

  let pending = null;
  let timer = null;
  async function run() {
    const q = input.value.trim().replace(kind === "tags" ? /^#/ : /^$/, "");
    history.replaceState(null, "", `#/search?${new URLSearchParams({ q: input.value, kind })}`);
    pending?.abort();
    if (!q) {
      results.replaceChildren();
      return;
    }
    pending = new AbortController();
    signal.addEventListener("abort", () => pending.abort());
    try {
      const path = { people: "/search/users", tags: "/search/hashtags", places: "/search/places" }[kind];
      const page = await api(path, { params: { q, pageSize: 20 }, signal: pending.signal });
      const items = { people: page.users, tags: page.hashtags, places: page.places }[kind] || [];
      const render = { people: personResult, tags: tagResult, places: placeResult }[kind];
      results.replaceChildren(...items.map(render));
      if (!items.length) results.replaceChildren(h("li", {}, empty(`No ${kind} match “${q}”.`)));
    } catch (error) {
      if (error.name !== "AbortError") results.replaceChildren(h("li", {}, errorBox(error)));
    }
  }
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  });
  if (input.value) run();
  input.focus();
}
