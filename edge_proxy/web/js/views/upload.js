// New post, story or reel: pick a photo (or a video), a filter (previewed with CSS
// approximations of the server's filters), alt text, a caption with #tags and @mentions, and a
// place.

import { api, uploadPhoto } from "../api.js";
import { h, errorBox, toast } from "../dom.js";

// media_svc's filters (media_svc/filters.py); the preview classes live in style.css.
export const FILTERS = [
  ["normal", "Normal"], ["clarendon", "Clarendon"], ["gingham", "Gingham"], ["juno", "Juno"],
  ["lark", "Lark"], ["moon", "Moon"], ["valencia", "Valencia"], ["reyes", "Reyes"], ["aden", "Aden"],
];
const ACCEPT = "image/jpeg,image/png,image/webp,image/heic,image/heif,video/mp4,video/quicktime";
const ACCEPT_VIDEO = "video/mp4,video/quicktime";
const ALT_TEXT_MAX = 1000; // post_svc's limit on one piece of media's alt text

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** The upload screen (`?as=story` starts on a story, `?as=reel` on a reel). */
export function uploadView({ main, query, signal }) {
  let kind = ["story", "reel"].includes(query.get("as")) ? query.get("as") : "post";
  let objectUrl = null;
  let filter = "normal";
  signal.addEventListener("abort", () => objectUrl && URL.revokeObjectURL(objectUrl));

  const title = h("h1", {});
  const kindGroup = h("fieldset", { class: "segmented-radio" }, h("legend", {}, "Share as"),
    ...[["post", "Post"], ["story", "Story (24 hours)"], ["reel", "Reel (vertical video)"]].map(([value, label]) =>
      h("label", {}, h("input", { type: "radio", name: "kind", value, checked: kind === value, onchange: () => { kind = value; paintKind(); } }), label)));

  const file = h("input", { id: "up-file", type: "file", name: "file", accept: ACCEPT, required: true });
  const fileLabel = h("label", { for: "up-file" }, "Photo or video");
  const preview = h("div", { class: "preview f-normal", "aria-live": "polite" }, h("p", { class: "muted" }, "Choose a photo to see it here."));
  const filterList = h("div", { class: "filters" });
  const filterSet = h("fieldset", { class: "filter-set", hidden: true }, h("legend", {}, "Filter"), filterList);

  file.addEventListener("change", () => {
    const chosen = file.files[0];
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = chosen ? URL.createObjectURL(chosen) : null;
    if (!chosen) return;
    const video = chosen.type.startsWith("video/");
    preview.replaceChildren(video
      ? h("video", { src: objectUrl, controls: true, muted: true, "aria-label": "Preview of the chosen video" })
      : h("img", { src: objectUrl, alt: "Preview of the chosen photo with the selected filter" }));
    filterSet.hidden = video;
    if (video) setFilter("normal");
    filterList.replaceChildren(...FILTERS.map(([value, label]) =>
      h("label", { class: `filter-choice f-${value}` },
        h("input", { type: "radio", name: "filter", value, checked: value === filter, onchange: () => setFilter(value) }),
        h("img", { src: objectUrl, alt: "", width: 72, height: 72 }),
        h("span", {}, label))));
  });
  function setFilter(value) {
    filter = value;
    preview.className = `preview f-${value}`;
  }

  const alt = h("input", { id: "up-alt", name: "altText", maxlength: ALT_TEXT_MAX, autocomplete: "off", "aria-describedby": "up-alt-hint" });
  const altField = h("div", {},
    h("p", { class: "field" }, h("label", { for: "up-alt" }, "Alt text (optional)"), alt),
    h("p", { id: "up-alt-hint", class: "hint" }, "Describe what it shows for people who cannot see it. Without it, people hear who posted it and the caption."));

  const caption = h("textarea", { id: "up-caption", name: "caption", rows: 3, maxlength: 2200, "aria-describedby": "up-caption-hint" });
  const hint = h("p", { id: "up-caption-hint", class: "hint" }, "Use #tags for topics and @username to mention people.");
  const parsed = h("p", { class: "parsed", "aria-live": "polite" });
  const suggestions = h("ul", { class: "suggestions", "aria-label": "People to mention" });
  const findPeople = debounce(async (prefix) => {
    try {
      const page = await api("/search/users", { params: { q: prefix, pageSize: 5 }, signal });
      suggestions.replaceChildren(...(page.users || []).map((user) =>
        h("li", {}, h("button", { type: "button", class: "link", onclick: () => mention(user.username) }, `@${user.username}`, user.fullName ? ` · ${user.fullName}` : ""))));
    } catch {
      suggestions.replaceChildren();
    }
  }, 250);
  function currentWord() {
    const upto = caption.value.slice(0, caption.selectionStart);
    const match = upto.match(/@([\p{L}\p{N}_.]*)$/u);
    return match ? match[1] : null;
  }
  function mention(username) {
    const at = caption.selectionStart;
    const upto = caption.value.slice(0, at).replace(/@([\p{L}\p{N}_.]*)$/u, `@${username} `);
    caption.value = upto + caption.value.slice(at);
    caption.focus();
    caption.setSelectionRange(upto.length, upto.length);
    suggestions.replaceChildren();
    paintParsed();
  }
  function paintParsed() {
    const text = caption.value;
    const tags = [...new Set([...text.matchAll(/(?:^|[^\p{L}\p{N}_])#([\p{L}\p{N}_]+)/gu)].map((m) => `#${m[1].toLowerCase()}`))];
    const people = [...new Set([...text.matchAll(/(?:^|[^\p{L}\p{N}_])@([\p{L}\p{N}_.]+)/gu)].map((m) => `@${m[1].replace(/\.+$/, "")}`))];
    parsed.textContent = [tags.length ? `Tags: ${tags.join(" ")}` : "", people.length ? `Mentions: ${people.join(" ")}` : ""].filter(Boolean).join(" · ");
  }
  caption.addEventListener("input", () => {
    paintParsed();
    const word = currentWord();
    if (word && word.length >= 1) findPeople(word);
    else suggestions.replaceChildren();
  });

  const places = new Map();
  const placeInput = h("input", { id: "up-place", name: "place", list: "up-place-list", autocomplete: "off", maxlength: 100 });
  const placeList = h("datalist", { id: "up-place-list" });
  const lat = h("input", { id: "up-lat", name: "lat", type: "number", step: "any", min: -90, max: 90 });
  const lng = h("input", { id: "up-lng", name: "lng", type: "number", step: "any", min: -180, max: 180 });
  const locate = h("button", { type: "button", class: "secondary", onclick: () => {
    if (!navigator.geolocation) return toast("This browser cannot tell where you are.");
    navigator.geolocation.getCurrentPosition(
      (where) => { lat.value = where.coords.latitude.toFixed(5); lng.value = where.coords.longitude.toFixed(5); },
      () => toast("Your location is not available; type the coordinates instead."),
    );
  } }, "Use my location");
  const findPlaces = debounce(async (text) => {
    try {
      const page = await api("/search/places", { params: { q: text, pageSize: 8 }, signal });
      for (const place of page.places || []) places.set(place.name.toLowerCase(), place);
      placeList.replaceChildren(...(page.places || []).map((place) => h("option", { value: place.name })));
    } catch {
      placeList.replaceChildren();
    }
  }, 250);
  placeInput.addEventListener("input", () => {
    const text = placeInput.value.trim();
    const known = places.get(text.toLowerCase());
    if (known) {
      lat.value = known.lat;
      lng.value = known.lng;
    }
    if (text) findPlaces(text);
  });
  const placeSet = h("fieldset", { class: "place-set" }, h("legend", {}, "Place (optional)"),
    h("p", { class: "field" }, h("label", { for: "up-place" }, "Place name"), placeInput, placeList),
    h("p", { class: "hint" }, "Pick a known place from the list, or give a new place's coordinates."),
    h("div", { class: "coords" },
      h("p", { class: "field" }, h("label", { for: "up-lat" }, "Latitude"), lat),
      h("p", { class: "field" }, h("label", { for: "up-lng" }, "Longitude"), lng),
      locate));

  const closeFriends = h("input", { id: "up-close", type: "checkbox", name: "closeFriends" });
  const closeFriendsField = h("p", { class: "field check" }, closeFriends, h("label", { for: "up-close" }, "Close friends only"));
  const progress = h("p", { class: "status", role: "status" });
  const message = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary" }, "Share");

  const form = h("form", { class: "card upload", novalidate: true },
    title, kindGroup,
    h("p", { class: "field" }, fileLabel, file),
    preview, filterSet, altField,
    h("p", { class: "field" }, h("label", { for: "up-caption" }, "Caption"), caption), hint, parsed, suggestions,
    placeSet, closeFriendsField, message, progress, submit);
  function paintKind() {
    title.textContent = { story: "New story", reel: "New reel", post: "New post" }[kind];
    placeSet.hidden = kind === "story";
    closeFriendsField.hidden = kind !== "story";
    altField.hidden = kind === "story"; // stories have no alt text in the API
    file.accept = kind === "reel" ? ACCEPT_VIDEO : ACCEPT;
    fileLabel.textContent = kind === "reel" ? "Video (vertical, 3 to 90 seconds)" : "Photo or video";
    submit.textContent = { story: "Share to your story", reel: "Share reel", post: "Share" }[kind];
  }
  paintKind();

  function location_() {
    const name = placeInput.value.trim();
    if (!name) return null;
    if (lat.value === "" || lng.value === "") {
      throw new Error("Pick the place from the list or give its latitude and longitude.");
    }
    return { name, lat: Number(lat.value), lng: Number(lng.value) };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    const chosen = file.files[0];
    if (!chosen) {
      message.replaceChildren(errorBox(new Error(kind === "reel" ? "Choose a video first." : "Choose a photo or a video first.")));
      file.focus();
      return;
    }
    submit.disabled = true;
    try {
      const where = kind !== "story" ? location_() : null;
      if (kind === "reel" && !chosen.type.startsWith("video/")) {
        throw new Error("A reel is a video: choose a vertical video of 3 to 90 seconds.");
      }
      progress.textContent = "Uploading…";
      const media = await uploadPhoto(chosen, {
        filter: filter === "normal" ? "" : filter,
        progress: (step) => { progress.textContent = step === "processing" ? "Processing…" : "Uploading…"; },
      });
      progress.textContent = "Sharing…";
      if (kind === "story") {
        await api("/stories", { method: "POST", body: { mediaId: media.mediaId, caption: caption.value.trim(), closeFriendsOnly: closeFriends.checked } });
        toast("Your story is up for 24 hours.");
        location.hash = "#/";
      } else if (kind === "reel") {
        const reel = await api("/reels", { method: "POST", body: {
          mediaId: media.mediaId, caption: caption.value.trim(), location: where ?? undefined,
          altText: alt.value.trim(), idempotencyKey: `web-${media.mediaId}`,
        } });
        toast("Your reel is shared.");
        location.hash = `#/p/${reel.postId}`;
      } else {
        const altText = alt.value.trim();
        const post = await api("/posts", { method: "POST", body: {
          mediaIds: [media.mediaId], caption: caption.value.trim(), location: where ?? undefined,
          altTexts: altText ? [altText] : undefined, idempotencyKey: `web-${media.mediaId}`,
        } });
        toast("Your post is shared.");
        location.hash = `#/p/${post.postId}`;
      }
    } catch (error) {
      progress.textContent = "";
      message.replaceChildren(errorBox(error));
      submit.disabled = false;
    }
  });
  main.append(form);
}
