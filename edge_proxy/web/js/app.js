// The web client's shell: the navigation bar, the hash router and the live badges (notifications
// and unread conversations, each fed by its stream).

import { api, me, onSessionChange, logout, streamMessages, streamNotifications } from "./api.js";
import { h, icon, toast } from "./dom.js";
import { signInView, signUpView } from "./views/auth.js";
import { feedView, postView, exploreView, tagView, placeView } from "./views/posts.js";
import { uploadView } from "./views/upload.js";
import { profileView, settingsView, requestsView, followListView } from "./views/profile.js";
import { notificationsView, notificationText } from "./views/notifications.js";
import { searchView } from "./views/search.js";
import { storyViewer } from "./views/stories.js";
import { conversationView, inboxView, messageRequestsView, newConversationView } from "./views/messages.js";
import { reelsView } from "./views/reels.js";

// [pattern, view, needs a session]
const ROUTES = [
  [/^\/$/, feedView, true],
  [/^\/login$/, signInView, false],
  [/^\/signup$/, signUpView, false],
  [/^\/p\/(\d+)$/, postView, true],
  [/^\/u\/([^/]+)$/, profileView, true],
  [/^\/u\/([^/]+)\/(followers|following)$/, followListView, true],
  [/^\/new$/, uploadView, true],
  [/^\/notifications$/, notificationsView, true],
  [/^\/requests$/, requestsView, true],
  [/^\/settings$/, settingsView, true],
  [/^\/search$/, searchView, true],
  [/^\/explore$/, exploreView, true],
  [/^\/tags\/([^/]+)$/, tagView, true],
  [/^\/places\/(\d+)$/, placeView, true],
  [/^\/stories\/(\d+)$/, storyViewer, true],
  [/^\/reels$/, reelsView, true],
  [/^\/messages$/, inboxView, true],
  [/^\/messages\/requests$/, messageRequestsView, true],
  [/^\/messages\/new$/, newConversationView, true],
  [/^\/messages\/(\d+)$/, conversationView, true],
];

const header = document.getElementById("top");
const main = document.getElementById("main");
let current = null; // the AbortController of the view on screen
let stream = null; // the AbortController of the live streams

// The number is part of the link's name ("Notifications 3 unread"), as it reads on screen.
function makeBadge() {
  const number = h("span", { class: "n" }, "");
  const badge = h("span", { class: "badge", hidden: true }, number, h("span", { class: "visually-hidden" }, " unread"));
  const set = (unread) => {
    const n = Number(unread || 0);
    badge.hidden = n === 0;
    number.textContent = n > 99 ? "99+" : String(n);
  };
  return [badge, set];
}
const [badge, setBadge] = makeBadge();
const [messageBadge, setMessageBadge] = makeBadge();

/** Show how many conversations hold unread messages on the Messages link. */
async function refreshMessageBadge() {
  try {
    const answer = await api("/conversations/unread-count");
    setMessageBadge(answer.unreadCount);
  } catch {
    // The badge is a hint: the inbox shows the errors.
  }
}

async function refreshBadge() {
  try {
    const answer = await api("/notifications/unread-count");
    setBadge(answer.unreadCount);
  } catch {
    // The badge is a hint: the notifications page shows the errors.
  }
}

function navLink(href, label, glyph, extra = {}) {
  // Following the link of the screen already shown loads it afresh, as people expect.
  const again = (event) => {
    if ((location.hash || "#/") === href) {
      event.preventDefault();
      render();
    }
  };
  return h("a", { href, class: "nav-link", title: label, onclick: again, ...extra }, icon(glyph), h("span", { class: "label" }, label));
}

function renderHeader() {
  const user = me();
  const brand = h("a", { href: "#/", class: "brand" }, "Shutter");
  if (!user) {
    header.replaceChildren(brand);
    return;
  }
  const notifications = navLink("#/notifications", "Notifications", "heart", { id: "nav-notifications" });
  notifications.append(badge);
  const messages = navLink("#/messages", "Messages", "send", { id: "nav-messages" });
  messages.append(messageBadge);
  const signOut = h("button", { type: "button", class: "nav-link signout", onclick: signOutNow }, icon("logout"), h("span", { class: "label" }, "Sign out"));
  header.replaceChildren(
    brand,
    h("nav", { "aria-label": "Main" },
      navLink("#/", "Home", "home"),
      navLink("#/search", "Search", "search"),
      navLink("#/explore", "Explore", "explore"),
      navLink("#/reels", "Reels", "reels"),
      navLink("#/new", "New post", "plus"),
      messages,
      notifications,
      navLink(`#/u/${encodeURIComponent(user.username)}`, "Profile", "user"),
      signOut,
    ),
  );
  markCurrentLink();
}

function markCurrentLink() {
  const here = (location.hash || "#/").split("?")[0];
  for (const link of header.querySelectorAll("a.nav-link")) {
    const href = link.getAttribute("href");
    // A conversation or a request list is still under Messages.
    const under = href === "#/messages" && here.startsWith("#/messages/");
    if (href === here || under) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function signOutNow() {
  try {
    await logout();
  } catch (error) {
    toast(error.message);
  }
  location.hash = "#/login";
}

function startStream() {
  stream?.abort();
  stream = new AbortController();
  refreshBadge();
  streamNotifications((notification) => {
    refreshBadge();
    toast(notificationText(notification));
    document.dispatchEvent(new CustomEvent("shutter:notification", { detail: notification }));
  }, stream.signal);
  refreshMessageBadge();
  streamMessages((message) => {
    // An open conversation marks it read first, then refreshes the badge itself.
    const open = (location.hash || "").split("?")[0] === `#/messages/${message.conversationId}`;
    if (!open) {
      refreshMessageBadge();
      if (message.senderId !== me()?.userId) toast(message.text ? `New message: “${message.text.slice(0, 80)}”` : "New message");
    }
    document.dispatchEvent(new CustomEvent("shutter:message", { detail: message }));
  }, (unsent) => {
    refreshMessageBadge();
    document.dispatchEvent(new CustomEvent("shutter:unsent", { detail: unsent }));
  }, stream.signal);
}

function route() {
  const [path, search = ""] = (location.hash.replace(/^#/, "") || "/").split("?");
  for (const [pattern, view, needsSession] of ROUTES) {
    const match = path.match(pattern);
    if (match) return { view, needsSession, params: match.slice(1).map(decodeURIComponent), query: new URLSearchParams(search) };
  }
  return null;
}

async function render() {
  const found = route();
  if (!found) {
    location.replace("#/");
    return;
  }
  if (found.needsSession && !me()) {
    location.replace("#/login");
    return;
  }
  if (!found.needsSession && me()) {
    location.replace("#/");
    return;
  }
  current?.abort();
  current = new AbortController();
  markCurrentLink();
  main.replaceChildren();
  window.scrollTo(0, 0);
  await found.view({ main, params: found.params, query: found.query, signal: current.signal, setBadge, refreshMessageBadge });
  // Move focus to the new screen's heading, so keyboard and screen-reader users start there.
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }
}

onSessionChange((session) => {
  renderHeader();
  if (session) {
    if (!stream || stream.signal.aborted) startStream();
  } else {
    stream?.abort();
    stream = null;
    setBadge(0);
    setMessageBadge(0);
    if (route()?.needsSession) location.hash = "#/login";
  }
});

window.addEventListener("hashchange", render);
renderHeader();
if (me()) startStream();
render();
