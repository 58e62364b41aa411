// Direct messages: the inbox, message requests (accept or delete), a conversation (text, photos,
// shared posts, unsend, read markers, new messages arriving live) and starting a conversation,
// one to one or with a group.

import { api, me, uploadPhoto } from "../api.js";
import { h, ago, altOf, avatar, empty, errorBox, icon, infinite, picture, toast } from "../dom.js";

const TEXT_MAX = 1000; // message_svc's limit on a message's text
const GROUP_MAX = 31; // others in one conversation besides the caller
const READ_POLL_MS = 10000; // how often an open conversation looks for others' read markers

/** Return a fresh client message id (retries of one send reuse it; the API dedupes on it). */
function newKey() {
  const random = globalThis.crypto?.randomUUID?.() || `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  return `web-${random}`;
}

/** Compare two decimal id strings (64-bit ids do not fit a JavaScript number exactly). */
function newer(a, b) {
  return BigInt(a || 0) > BigInt(b || 0);
}

function others(conversation) {
  return (conversation.participants || []).filter((p) => p.userId !== me()?.userId);
}

function nameOf(participant) {
  if (!participant) return "someone";
  return participant.accountDeleted ? "Deleted account" : participant.user?.username || "someone";
}

function member(conversation, userId) {
  return (conversation.participants || []).find((p) => p.userId === userId);
}

/** Return the name a conversation goes by: its title, else the other members' usernames. */
export function conversationName(conversation) {
  if (conversation.title) return conversation.title;
  const names = others(conversation).map(nameOf);
  return names.length ? names.join(", ") : "Only you";
}

function what(message) {
  if (message.text) return message.text;
  if (message.media) return message.media.type === "MEDIA_TYPE_VIDEO" ? "Sent a video" : "Sent a photo";
  if (message.sharedPost) return "Shared a post";
  return "Sent something";
}

function preview(conversation) {
  const last = conversation.lastMessage;
  if (!last) return conversation.isGroup ? "Group created" : "No messages yet";
  if (last.senderId === me()?.userId) return `You: ${what(last)}`;
  return conversation.isGroup ? `${nameOf(member(conversation, last.senderId))}: ${what(last)}` : what(last);
}

function conversationItem(conversation, extra = null) {
  const unread = Number(conversation.unreadCount || 0);
  const first = others(conversation)[0];
  return h("li", { class: `conversation${unread ? " unread" : ""}`, dataset: { id: conversation.conversationId } },
    avatar(first?.user),
    h("div", { class: "conv-text" },
      h("a", { href: `#/messages/${conversation.conversationId}`, class: "conv-name" }, conversationName(conversation)),
      h("p", { class: "conv-last" }, preview(conversation))),
    unread ? h("span", { class: "count-pill" }, `${unread > 99 ? "99+" : unread} new`) : null,
    ago(conversation.updatedAt),
    extra);
}

function tabs(current) {
  const link = (href, label, name) => h("a", { href, class: "tab", "aria-current": current === name ? "page" : null }, label);
  return h("nav", { class: "tabs", "aria-label": "Conversations" },
    link("#/messages", "Inbox", "inbox"), link("#/messages/requests", "Requests", "requests"));
}

function head(title, current) {
  return h("div", { class: "page-head" },
    h("h1", {}, title),
    h("a", { href: "#/messages/new", class: "button primary" }, icon("plus"), "New message"),
    tabs(current));
}

/** The inbox: accepted conversations, the latest activity first; new messages move them up. */
export function inboxView({ main, signal }) {
  const list = h("ul", { class: "conversations", "aria-label": "Inbox" });
  main.append(head("Messages", "inbox"), list);
  infinite(list, {
    signal,
    emptyText: "No conversations yet. Start one with “New message”.",
    load: async (token) => {
      const page = await api("/conversations", { params: { pageSize: 20, pageToken: token }, signal });
      return { items: page.conversations || [], next: page.nextPageToken };
    },
    render: (conversation) => conversationItem(conversation),
  });
  const live = async (event) => {
    try {
      const conversation = await api(`/conversations/${event.detail.conversationId}`, { signal });
      if (conversation.isRequest) return; // shown under Requests until accepted
      list.querySelector(`[data-id="${CSS.escape(conversation.conversationId)}"]`)?.remove();
      list.prepend(conversationItem(conversation));
      main.querySelector(".list-footer .empty")?.remove();
    } catch {
      // The list stays as it was; opening the inbox again shows the news.
    }
  };
  document.addEventListener("shutter:message", live);
  signal.addEventListener("abort", () => document.removeEventListener("shutter:message", live));
}

/** Message requests: conversations started by people the viewer does not follow. */
export function messageRequestsView({ main, signal, refreshMessageBadge }) {
  const list = h("ul", { class: "conversations", "aria-label": "Message requests" });
  main.append(head("Message requests", "requests"),
    h("p", { class: "muted" }, "People you do not follow. They will not know you have seen their request until you accept it."),
    list);
  function requestItem(conversation) {
    const status = h("span", { class: "form-message" });
    const name = conversationName(conversation);
    const item = conversationItem(conversation, h("div", { class: "request-actions" },
      h("button", { type: "button", class: "primary", "aria-label": `Accept the request from ${name}`, onclick: async () => {
        try {
          await api(`/conversations/${conversation.conversationId}/accept`, { method: "POST", body: {} });
          location.hash = `#/messages/${conversation.conversationId}`;
          refreshMessageBadge();
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      } }, "Accept"),
      h("button", { type: "button", class: "secondary danger", "aria-label": `Delete the request from ${name}`, onclick: async () => {
        try {
          await api(`/conversations/${conversation.conversationId}`, { method: "DELETE" });
          item.remove();
          toast(`The request from ${name} was deleted.`);
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      } }, "Delete"),
      status));
    return item;
  }
  infinite(list, {
    signal,
    emptyText: "No message requests.",
    load: async (token) => {
      const page = await api("/conversations/requests", { params: { pageSize: 20, pageToken: token }, signal });
      return { items: page.conversations || [], next: page.nextPageToken };
    },
    render: requestItem,
  });
}

function sharedPostView(shared) {
  if (shared.unavailable || !shared.post) {
    return h("p", { class: "shared unavailable" }, "This post is unavailable.");
  }
  const post = shared.post;
  const first = (post.media || [])[0];
  return h("a", { class: "shared", href: `#/p/${post.postId}` },
    first ? picture(first, { alt: altOf(post, 0), sizes: "260px" }) : null,
    h("span", { class: "shared-by" }, `Post by @${post.user?.username || "someone"}`),
    post.caption ? h("span", { class: "shared-caption" }, post.caption) : null);
}

function mediaView(media, sender) {
  if (media.type === "MEDIA_TYPE_VIDEO") {
    return h("video", { src: media.videoUrl, controls: true, preload: "metadata", poster: media.variants?.feed || "", "aria-label": `Video from ${sender}` });
  }
  return picture(media, { alt: media.altText || `Photo from ${sender}`, sizes: "260px" });
}

/** One conversation: its messages oldest to newest, a composer, live delivery, read markers. */
export async function conversationView({ main, params, signal, refreshMessageBadge }) {
  const id = params[0];
  let conversation;
  try {
    conversation = await api(`/conversations/${id}`, { signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    main.append(h("h1", {}, "Conversation"), errorBox(error));
    return;
  }
  const myId = me().userId;
  const shown = new Map(); // message id → its list item
  let newestSeen = "0"; // the newest message shown
  let olderToken = "";

  const heading = h("h1", { class: "conv-title" }, conversationName(conversation));
  const members = h("p", { class: "muted conv-members" });
  // The log role (new messages are read out) sits on a wrapper, so the list stays a list.
  const log = h("ol", { class: "messages" });
  const logBox = h("div", { role: "log", "aria-label": `Messages with ${conversationName(conversation)}` }, log);
  const older = h("button", { type: "button", class: "more", hidden: true, onclick: () => loadPage(olderToken) }, "Load older messages");
  const seen = h("p", { class: "seen muted", "aria-live": "polite" });
  const status = h("div", { class: "form-message" });

  const input = h("textarea", { id: "msg-text", name: "text", rows: 1, maxlength: TEXT_MAX, autocomplete: "off", placeholder: "Message…" });
  const fileInput = h("input", { id: "msg-photo", type: "file", accept: "image/jpeg,image/png,image/webp,image/heic,image/heif,video/mp4,video/quicktime", class: "visually-hidden" });
  const send = h("button", { type: "submit", class: "primary" }, icon("send"), h("span", {}, "Send"));
  const composer = h("form", { class: "composer" },
    h("label", { class: "act attach", title: "Send a photo or video" }, fileInput, icon("image"), h("span", { class: "visually-hidden" }, "Send a photo or video")),
    h("label", { for: "msg-text", class: "visually-hidden" }, "Message"), input, send);

  function paintHeader() {
    heading.textContent = conversationName(conversation);
    const present = (conversation.participants || []).filter((p) => !p.hasLeft);
    members.textContent = conversation.isGroup ? `${present.length} members: ${present.map((p) => (p.userId === myId ? "you" : nameOf(p))).join(", ")}` : "";
    members.hidden = !conversation.isGroup;
    composer.hidden = Boolean(conversation.isRequest || conversation.hasLeft);
    requestBar.hidden = !conversation.isRequest;
    leftNote.hidden = !conversation.hasLeft;
    leave.hidden = !conversation.isGroup || Boolean(conversation.hasLeft);
    paintSeen();
  }

  // "Seen" under the conversation: who has read my newest message (read markers of the others).
  function paintSeen() {
    const mine = [...shown.values()].filter((li) => li.classList.contains("mine")).pop();
    if (!mine) {
      seen.textContent = "";
      return;
    }
    const readers = others(conversation).filter((p) => !newer(mine.dataset.id, p.lastReadMessageId || "0"));
    if (!readers.length) seen.textContent = "";
    else if (!conversation.isGroup) seen.textContent = "Seen";
    else seen.textContent = `Seen by ${readers.map(nameOf).join(", ")}`;
  }

  function messageItem(message) {
    const mine = message.senderId === myId;
    const sender = nameOf(member(conversation, message.senderId));
    const body = [];
    if (message.text) body.push(h("p", { class: "bubble-text" }, message.text));
    if (message.media) body.push(mediaView(message.media, sender));
    if (message.sharedPost) body.push(sharedPostView(message.sharedPost));
    if (!body.length) body.push(h("p", { class: "muted" }, "This photo or video is no longer available."));
    const item = h("li", { class: `msg${mine ? " mine" : ""}`, dataset: { id: message.messageId } },
      h("span", { class: mine ? "visually-hidden" : "msg-who" }, mine ? "You:" : `${sender}:`),
      h("div", { class: "bubble" }, body),
      h("div", { class: "msg-meta" }, ago(message.createdAt),
        mine ? h("button", { type: "button", class: "link", onclick: () => unsend(message, item) }, "Unsend") : null));
    return item;
  }

  async function unsend(message, item) {
    status.replaceChildren();
    try {
      await api(`/conversations/${id}/messages/${message.messageId}`, { method: "DELETE" });
      shown.delete(message.messageId);
      item.remove();
      paintSeen();
      toast("Message unsent.");
      input.focus();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  }

  /** Show a message (once), in id order. */
  function place(message) {
    if (shown.has(message.messageId)) return;
    const item = messageItem(message);
    const after = [...shown.keys()].find((other) => newer(other, message.messageId));
    if (after) log.insertBefore(item, shown.get(after));
    else log.append(item);
    shown.set(message.messageId, item);
    if (newer(message.messageId, newestSeen)) newestSeen = message.messageId;
    empty_.hidden = true;
  }

  async function markRead() {
    if (conversation.isRequest || newestSeen === "0") return;
    try {
      conversation = await api(`/conversations/${id}/read`, { method: "POST", body: { messageId: newestSeen }, signal });
      paintHeader();
      refreshMessageBadge();
    } catch {
      // A read marker is a courtesy: the next message tries again.
    }
  }

  // New and unsent messages are pushed; others' read markers are not, so they are picked up by
  // looking again (the newest page), which also fills in anything a dropped stream missed.
  async function refresh() {
    try {
      conversation = await api(`/conversations/${id}`, { signal });
      const known = new Set(shown.keys()); // what arrives while asking is not judged by this answer
      const page = await api(`/conversations/${id}/messages`, { params: { pageSize: 30 }, signal });
      const latest = page.messages || [];
      const present = new Set(latest.map((m) => m.messageId));
      const oldest = latest.length ? latest[latest.length - 1].messageId : null;
      for (const [messageId, item] of shown) {
        if (!known.has(messageId)) continue;
        // Covered by this answer: within the page, or anywhere when it is the last page.
        const covered = !page.nextPageToken || (oldest !== null && !newer(oldest, messageId));
        if (covered && !present.has(messageId)) {
          item.remove();
          shown.delete(messageId);
        }
      }
      for (const message of latest) place(message);
      paintHeader();
    } catch {
      // Keep what is shown; the next poll tries again.
    }
  }

  async function loadPage(token) {
    older.hidden = true;
    try {
      const page = await api(`/conversations/${id}/messages`, { params: { pageSize: 30, pageToken: token }, signal });
      const atBottom = !token;
      for (const message of page.messages || []) place(message);
      olderToken = page.nextPageToken || "";
      older.hidden = !olderToken;
      if (atBottom) log.lastElementChild?.scrollIntoView({ block: "end" });
      paintSeen();
    } catch (error) {
      if (error.name !== "AbortError") status.replaceChildren(errorBox(error));
    }
  }

  async function sendBody(body) {
    status.replaceChildren();
    send.disabled = true;
    try {
      const message = await api(`/conversations/${id}/messages`, { method: "POST", body: { clientMessageId: newKey(), ...body } });
      place(message);
      log.lastElementChild?.scrollIntoView({ block: "end" });
      paintSeen();
      return true;
    } catch (error) {
      status.replaceChildren(errorBox(error));
      return false;
    } finally {
      send.disabled = false;
    }
  }

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (await sendBody({ text })) input.value = "";
    input.focus();
  });
  // Enter sends, Shift+Enter starts a new line (as in other messengers).
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  fileInput.addEventListener("change", async () => {
    const chosen = fileInput.files[0];
    if (!chosen) return;
    status.replaceChildren(h("p", { class: "status", role: "status" }, "Sending the photo…"));
    try {
      const media = await uploadPhoto(chosen);
      await sendBody({ mediaId: media.mediaId });
    } catch (error) {
      status.replaceChildren(errorBox(error));
    } finally {
      fileInput.value = "";
    }
  });

  const requestBar = h("div", { class: "card request-bar" },
    h("p", {}, `${conversationName(conversation)} wants to send you messages. They will not know you have seen this until you accept.`),
    h("div", { class: "request-actions" },
      h("button", { type: "button", class: "primary", onclick: async () => {
        try {
          conversation = await api(`/conversations/${id}/accept`, { method: "POST", body: {} });
          paintHeader();
          await markRead();
          input.focus();
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      } }, "Accept"),
      h("button", { type: "button", class: "secondary danger", onclick: async () => {
        try {
          await api(`/conversations/${id}`, { method: "DELETE" });
          toast("The request was deleted.");
          location.hash = "#/messages/requests";
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      } }, "Delete")));
  const leftNote = h("p", { class: "muted" }, "You left this conversation: you see what was sent until then.");
  const leave = h("button", { type: "button", class: "link danger", onclick: async () => {
    if (!confirm("Leave this group? You will not see what is sent after you leave.")) return;
    try {
      conversation = await api(`/conversations/${id}/leave`, { method: "POST", body: {} });
      paintHeader();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  } }, "Leave group");
  const empty_ = empty("No messages yet. Say hello!");

  main.append(
    h("div", { class: "conv-head" }, h("a", { href: "#/messages", class: "act", "aria-label": "Back to messages" }, icon("prev")),
      h("div", { class: "grow" }, heading, members), leave),
    requestBar, older, logBox, empty_, seen, leftNote, status, composer);
  paintHeader();
  await loadPage("");
  if (signal.aborted) return;
  await markRead();

  const live = async (event) => {
    const message = event.detail;
    if (message.conversationId !== id) return;
    place(message);
    log.lastElementChild?.scrollIntoView({ block: "end" });
    if (message.senderId !== myId) await markRead();
    else await refresh();
  };
  const unsent = (event) => {
    const { conversationId, messageId } = event.detail;
    if (conversationId !== id) return;
    shown.get(messageId)?.remove();
    shown.delete(messageId);
    paintHeader();
  };
  document.addEventListener("shutter:message", live);
  document.addEventListener("shutter:unsent", unsent);
  const poll = setInterval(refresh, READ_POLL_MS);
  signal.addEventListener("abort", () => {
    document.removeEventListener("shutter:message", live);
    document.removeEventListener("shutter:unsent", unsent);
    clearInterval(poll);
  });
}

/**
 * Start a conversation with one person or a group (`?share=<post id>` sends that post as the
 * first message, `?to=<username>` starts with that person chosen).
 */
export function newConversationView({ main, query, signal }) {
  const share = query.get("share");
  const chosen = new Map(); // user id → user summary
  const searchInput = h("input", { id: "nc-search", type: "search", autocomplete: "off", maxlength: 100, "aria-describedby": "nc-hint", "aria-controls": "nc-results" });
  const results = h("ul", { id: "nc-results", class: "people", "aria-label": "People found" });
  const chips = h("ul", { class: "chips", "aria-label": "Chosen people" });
  const title = h("input", { id: "nc-title", name: "title", maxlength: 100, autocomplete: "off" });
  const titleField = h("p", { class: "field", hidden: true }, h("label", { for: "nc-title" }, "Group name (optional)"), title);
  const status = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary", disabled: true }, share ? "Send" : "Chat");

  function paintChosen() {
    chips.replaceChildren(...[...chosen.values()].map((user) => h("li", { class: "chip" }, `@${user.username}`,
      h("button", { type: "button", class: "link", "aria-label": `Remove ${user.username}`, onclick: () => {
        chosen.delete(user.userId);
        paintChosen();
        searchInput.focus();
      } }, icon("close")))));
    titleField.hidden = chosen.size < 2;
    submit.disabled = chosen.size === 0;
  }
  function choose(user) {
    if (chosen.size >= GROUP_MAX) {
      status.replaceChildren(errorBox(new Error(`A conversation holds at most ${GROUP_MAX} people besides you.`)));
      return;
    }
    chosen.set(user.userId, user);
    paintChosen();
    results.replaceChildren();
    searchInput.value = "";
    searchInput.focus();
  }
  let timer = null;
  searchInput.addEventListener("input", () => {
    clearTimeout(timer);
    const q = searchInput.value.trim();
    if (!q) {
      results.replaceChildren();
      return;
    }
    timer = setTimeout(async () => {
      try {
        const page = await api("/search/users", { params: { q, pageSize: 8 }, signal });
        const people = (page.users || []).filter((user) => user.userId !== me().userId && !chosen.has(user.userId));
        results.replaceChildren(...(people.length ? people.map((user) => h("li", { class: "person" }, avatar(user),
          h("span", { class: "grow" }, user.username, user.fullName ? h("span", { class: "muted" }, ` · ${user.fullName}`) : null),
          h("button", { type: "button", class: "secondary", "aria-label": `Add ${user.username}`, onclick: () => choose(user) }, "Add"))) : [h("li", { class: "muted" }, "Nobody found.")]));
      } catch (error) {
        if (error.name !== "AbortError") results.replaceChildren(h("li", {}, errorBox(error)));
      }
    }, 250);
  });

  const form = h("form", { class: "card new-conversation" },
    h("h1", {}, share ? "Send a post" : "New message"),
    h("p", { class: "field" }, h("label", { for: "nc-search" }, "To"), searchInput),
    h("p", { id: "nc-hint", class: "hint" }, "Search people by name, then add one (a chat) or several (a group)."),
    results, chips, titleField, status, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen.size) return;
    submit.disabled = true;
    status.replaceChildren();
    try {
      const conversation = await api("/conversations", { method: "POST", body: {
        participantIds: [...chosen.keys()],
        title: chosen.size > 1 ? title.value.trim() : undefined,
      } });
      if (share) {
        await api(`/conversations/${conversation.conversationId}/messages`, { method: "POST", body: { clientMessageId: newKey(), sharedPostId: share } });
        toast("The post was sent.");
      }
      location.hash = `#/messages/${conversation.conversationId}`;
    } catch (error) {
      status.replaceChildren(errorBox(error));
      submit.disabled = false;
    }
  });
  main.append(form);

  const to = query.get("to");
  if (to) {
    api(`/users/by-username/${encodeURIComponent(to)}`, { signal }).then(choose).catch(() => {});
  }
}
