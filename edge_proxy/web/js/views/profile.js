// Profiles: the header with counts and the follow, request and block buttons, the post grid,
// followers and following lists, follow requests, and editing one's own profile.

import { api, me, rememberMe, uploadPhoto } from "../api.js";
import { h, avatar, count, empty, errorBox, icon, infinite, toast } from "../dom.js";
import { reelsGrid } from "./reels.js";
import { postTile } from "./posts.js";

function followLabel(user) {
  const rel = user.relationship || {};
  if (rel.following) return ["Following", "Unfollow"];
  if (rel.requested) return ["Requested", "Cancel the follow request"];
  if (rel.followedBy) return ["Follow back", "Follow back"];
  return ["Follow", "Follow"];
}

/** A profile: header, counts, buttons, then the grid (or why it is hidden). */
export async function profileView({ main, params, signal }) {
  const username = params[0];
  let user;
  try {
    user = await api(`/users/by-username/${encodeURIComponent(username)}`, { signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    main.append(h("h1", {}, `@${username}`), errorBox(error));
    return;
  }
  const self = me()?.userId === user.userId;
  const rel = user.relationship || {};
  const message = h("div", { class: "form-message" });

  async function act(path, method, done) {
    message.replaceChildren();
    try {
      await api(path, { method, signal });
      if (done) toast(done);
      const again = new AbortController();
      signal.addEventListener("abort", () => again.abort());
      main.replaceChildren();
      await profileView({ main, params, signal: again.signal });
    } catch (error) {
      if (error.name !== "AbortError") message.replaceChildren(errorBox(error));
    }
  }

  const buttons = h("div", { class: "profile-actions" });
  if (self) {
    buttons.append(h("a", { class: "button secondary", href: "#/settings" }, "Edit profile"));
    if (user.isPrivate) buttons.append(h("a", { class: "button secondary", href: "#/requests" }, "Follow requests"));
  } else if (rel.blocking) {
    buttons.append(h("button", { type: "button", class: "secondary", onclick: () => act(`/users/${user.userId}/block`, "DELETE", `You unblocked ${user.username}.`) }, "Unblock"));
  } else {
    const [label, action] = followLabel(user);
    const undo = rel.following || rel.requested;
    buttons.append(h("button", {
      type: "button",
      class: undo ? "secondary" : "primary",
      "aria-label": action === label ? null : `${label}: ${action.toLowerCase()} ${user.username}`,
      onclick: () => act(`/users/${user.userId}/follow`, undo ? "DELETE" : "POST"),
    }, label));
    buttons.append(h("button", { type: "button", class: "secondary", onclick: async () => {
      message.replaceChildren();
      try {
        const conversation = await api("/conversations", { method: "POST", body: { participantIds: [user.userId] } });
        location.hash = `#/messages/${conversation.conversationId}`;
      } catch (error) {
        message.replaceChildren(errorBox(error));
      }
    } }, "Message"));
    buttons.append(h("button", { type: "button", class: "secondary danger", onclick: () => {
      if (confirm(`Block ${user.username}? They will not see your profile, posts or stories, and you will not see theirs.`)) {
        act(`/users/${user.userId}/block`, "POST", `You blocked ${user.username}.`);
      }
    } }, "Block"));
  }

  const canSee = self || (!rel.blocking && (!user.isPrivate || rel.following));
  const picture = h("div", { class: "profile-pic" }, avatar(user, "huge"));
  const header = h("section", { class: "profile-head card" },
    picture,
    h("div", { class: "profile-info" },
      h("h1", {}, user.username, user.isVerified ? h("span", { class: "verified", title: "Verified" }, icon("check"), h("span", { class: "visually-hidden" }, " (verified)")) : null, user.isPrivate ? h("span", { class: "lock", title: "Private account" }, icon("lock"), h("span", { class: "visually-hidden" }, " (private account)")) : null),
      user.fullName ? h("p", { class: "full-name" }, user.fullName) : null,
      h("ul", { class: "counts" },
        h("li", {}, countText(user.postCount, "post", "posts")),
        h("li", {}, linkIf(canSee, `#/u/${encodeURIComponent(user.username)}/followers`, countText(user.followerCount, "follower", "followers"))),
        h("li", {}, linkIf(canSee, `#/u/${encodeURIComponent(user.username)}/following`, countText(user.followingCount, "following", "following")))),
      user.bio ? h("p", { class: "bio" }, user.bio) : null,
      // Only web addresses become links: never a javascript: or data: URL from a profile.
      /^https?:\/\//i.test(user.website || "") ? h("p", {}, h("a", { href: user.website, rel: "nofollow noopener", target: "_blank" }, user.website.replace(/^https?:\/\//i, ""))) : null,
      rel.followedBy && !self ? h("p", { class: "muted" }, "Follows you") : null,
      buttons, message));
  main.append(header);

  if (rel.blocking) {
    main.append(empty(`You blocked ${user.username}. Unblock them to see their posts.`));
    return;
  }
  if (!canSee) {
    main.append(h("section", { class: "private card" }, h("h2", {}, "This account is private"),
      h("p", {}, rel.requested ? "Your request is waiting for their approval." : "Follow this account to see their photos, videos and stories.")));
    return;
  }
  // A ring around the picture when the account has live stories.
  api(`/users/${user.userId}/stories`, { params: { pageSize: 1 }, signal })
    .then((page) => {
      if ((page.stories || []).length) {
        picture.replaceChildren(h("a", { href: `#/stories/${user.userId}`, class: "ring unseen" }, h("span", { class: "ring-pic" }, avatar(user, "huge")), h("span", { class: "visually-hidden" }, `View ${user.username}'s story`)));
      }
    })
    .catch(() => {});
  // The grid of posts (reels included), or of reels only with their view counts.
  const holder = h("section", { "aria-label": "Posts and reels" });
  let tabSignal = null;
  const tabs = [["posts", "Posts"], ["reels", "Reels"]];
  let shown = "posts";
  const tabButtons = tabs.map(([value, label]) => h("button", { type: "button", onclick: () => {
    shown = value;
    showTab();
  } }, label));
  function showTab() {
    tabs.forEach(([value], n) => tabButtons[n].setAttribute("aria-pressed", String(shown === value)));
    tabSignal?.abort();
    tabSignal = new AbortController();
    signal.addEventListener("abort", () => tabSignal.abort());
    holder.replaceChildren();
    if (shown === "reels") {
      reelsGrid(holder, { user, signal: tabSignal.signal, self });
      return;
    }
    const grid = h("ul", { class: "grid", "aria-label": `Posts by ${user.username}` });
    holder.append(grid);
    infinite(grid, {
      signal: tabSignal.signal,
      emptyText: self ? "Share your first photo with “New post”." : "No posts yet.",
      load: async (token) => {
        const page = await api(`/users/${user.userId}/posts`, { params: { pageSize: 24, pageToken: token }, signal: tabSignal.signal });
        return { items: page.posts || [], next: page.nextPageToken };
      },
      render: postTile,
    });
  }
  main.append(h("div", { class: "segmented profile-tabs", role: "group", "aria-label": "Show" }, tabButtons), holder);
  showTab();
}

function countText(n, one, many) {
  return [h("strong", {}, count(n)), ` ${Number(n) === 1 ? one : many}`];
}

function linkIf(condition, href, children) {
  return condition ? h("a", { href }, children) : children;
}

function personRow(person, extra = []) {
  return h("li", { class: "person" }, avatar(person),
    h("span", { class: "grow" }, h("a", { href: `#/u/${encodeURIComponent(person.username)}` }, person.username), person.fullName ? h("span", { class: "muted" }, ` ${person.fullName}`) : null),
    ...extra);
}

/** Followers or following of an account. */
export async function followListView({ main, params, signal }) {
  const [username, which] = params;
  main.append(h("h1", {}, `${which === "followers" ? "Followers" : "Following"} of ${username}`));
  let user;
  try {
    user = await api(`/users/by-username/${encodeURIComponent(username)}`, { signal });
  } catch (error) {
    if (error.name !== "AbortError") main.append(errorBox(error));
    return;
  }
  const list = h("ul", { class: "people" });
  main.append(list);
  infinite(list, {
    signal,
    emptyText: which === "followers" ? "No followers yet." : "Not following anyone yet.",
    load: async (token) => {
      const page = await api(`/users/${user.userId}/${which}`, { params: { pageSize: 30, pageToken: token }, signal });
      return { items: page[which] || [], next: page.nextPageToken };
    },
    render: (connection) => personRow(connection.user),
  });
}

/** Pending follow requests of a private account, to approve or deny. */
export function requestsView({ main, signal }) {
  const list = h("ul", { class: "people" });
  main.append(h("h1", {}, "Follow requests"), list);
  infinite(list, {
    signal,
    emptyText: "No follow requests waiting.",
    load: async (token) => {
      const page = await api("/follow-requests", { params: { pageSize: 30, pageToken: token }, signal });
      return { items: page.followRequests || [], next: page.nextPageToken };
    },
    render: (request) => {
      const row = personRow(request.user);
      const decide = (verb) => async () => {
        try {
          await api(`/follow-requests/${request.user.userId}/${verb}`, { method: "POST", signal });
          row.replaceChildren(h("span", {}, verb === "approve" ? `${request.user.username} now follows you.` : `You declined ${request.user.username}'s request.`));
        } catch (error) {
          row.append(errorBox(error));
        }
      };
      row.append(
        h("button", { type: "button", class: "primary", onclick: decide("approve") }, "Approve"),
        h("button", { type: "button", class: "secondary", onclick: decide("deny") }, "Deny"));
      return row;
    },
  });
}

/** Edit one's own profile: name, bio, website, private account. */
export async function settingsView({ main, signal }) {
  main.append(h("h1", {}, "Edit profile"));
  let user;
  try {
    user = await api(`/users/${me().userId}`, { signal });
  } catch (error) {
    if (error.name !== "AbortError") main.append(errorBox(error));
    return;
  }
  const input = (id, label, attrs) => h("p", { class: "field" }, h("label", { for: id }, label), h(attrs.tag || "input", { id, ...attrs, tag: null }));
  const isPrivate = h("input", { id: "set-private", type: "checkbox", name: "isPrivate", checked: Boolean(user.isPrivate) });
  const photo = h("input", { id: "set-photo", type: "file", name: "photo", accept: "image/jpeg,image/png,image/webp,image/heic,image/heif" });
  const status = h("p", { class: "status", role: "status" });
  const message = h("div", { class: "form-message" });
  const form = h("form", { class: "card settings" },
    h("div", { class: "photo-field" }, avatar(user, "large"),
      h("p", { class: "field" }, h("label", { for: "set-photo" }, "Profile photo"), photo)),
    input("set-name", "Full name", { name: "fullName", value: user.fullName || "", maxlength: 64, autocomplete: "name" }),
    input("set-bio", "Bio", { tag: "textarea", name: "bio", value: user.bio || "", maxlength: 150, rows: 3 }),
    input("set-web", "Website", { name: "website", type: "url", value: user.website || "", autocomplete: "url" }),
    h("p", { class: "field check" }, isPrivate, h("label", { for: "set-private" }, "Private account (only approved followers see your posts and stories)")),
    message,
    status,
    h("button", { type: "submit", class: "primary" }, "Save"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    const data = new FormData(form);
    const changes = {
      fullName: String(data.get("fullName")), bio: String(data.get("bio")), website: String(data.get("website")), isPrivate: isPrivate.checked,
    };
    try {
      if (photo.files[0]) {
        status.textContent = "Uploading the photo…";
        const media = await uploadPhoto(photo.files[0]);
        changes.profileMediaId = media.mediaId;
        status.textContent = "";
      }
      const saved = await api(`/users/${user.userId}`, { method: "PUT", signal, body: changes });
      rememberMe(saved);
      toast("Your profile is saved.");
      location.hash = `#/u/${encodeURIComponent(saved.username)}`;
    } catch (error) {
      status.textContent = "";
      if (error.name !== "AbortError") message.replaceChildren(errorBox(error));
    }
  });
  main.append(form);
}
