// Notifications: the list (marked read on opening), with new ones arriving live from the stream.

import { api } from "../api.js";
import { h, ago, avatar, infinite } from "../dom.js";

const VERBS = {
  NOTIFICATION_KIND_LIKE: "liked your post",
  NOTIFICATION_KIND_COMMENT: "commented on your post",
  NOTIFICATION_KIND_COMMENT_REPLY: "replied to your comment",
  NOTIFICATION_KIND_FOLLOWED: "started following you",
  NOTIFICATION_KIND_FOLLOW_REQUESTED: "asked to follow you",
  NOTIFICATION_KIND_FOLLOW_APPROVED: "accepted your follow request",
  NOTIFICATION_KIND_MENTION: "mentioned you",
};

function who(notification) {
  const actors = notification.actors || [];
  const first = actors[0]?.username || "Someone";
  const others = Math.max(0, Number(notification.actorCount || actors.length) - 1);
  if (others === 0) return first;
  if (others === 1 && actors[1]) return `${first} and ${actors[1].username}`;
  return `${first} and ${others} others`;
}

/** Return one sentence for a notification: "alice and 2 others liked your post." */
export function notificationText(notification) {
  const verb = VERBS[notification.kind] || "did something";
  const text = notification.text ? `: “${notification.text}”` : ".";
  return `${who(notification)} ${verb}${text}`;
}

function target(notification) {
  if (notification.postId && notification.postId !== "0") return `#/p/${notification.postId}`;
  if (notification.kind === "NOTIFICATION_KIND_FOLLOW_REQUESTED") return "#/requests";
  const actor = notification.actors?.[0];
  return actor ? `#/u/${encodeURIComponent(actor.username)}` : "#/notifications";
}

function item(notification) {
  const thumb = notification.postThumbnailUrl
    ? h("img", { class: "thumb", src: notification.postThumbnailUrl, alt: "", width: 44, height: 44 })
    : null;
  return h("li", { class: `notification${notification.read ? "" : " unread"}`, dataset: { id: notification.notificationId } },
    avatar(notification.actors?.[0]),
    h("a", { href: target(notification), class: "text" }, notificationText(notification)),
    ago(notification.updatedAt || notification.createdAt),
    thumb);
}

/** The notifications screen. */
export function notificationsView({ main, signal, setBadge }) {
  const list = h("ul", { class: "notifications", "aria-label": "Notifications" });
  main.append(h("h1", {}, "Notifications"), list);
  let newest = 0;
  infinite(list, {
    signal,
    emptyText: "No notifications yet. Likes, comments and follows will show up here.",
    load: async (token) => {
      const page = await api("/notifications", { params: { pageSize: 20, pageToken: token }, signal });
      for (const n of page.notifications || []) newest = Math.max(newest, Number(n.sequence || 0));
      if (!token && newest > 0) {
        // Opening the list reads everything on it.
        api("/notifications/read-all", { method: "POST", body: { maxSequence: String(newest) }, signal })
          .then(() => setBadge(0))
          .catch(() => {});
      }
      return { items: page.notifications || [], next: page.nextPageToken };
    },
    render: item,
  });
  const live = (event) => {
    const notification = event.detail;
    list.querySelector(`[data-id="${CSS.escape(String(notification.notificationId))}"]`)?.remove();
    list.prepend(item(notification));
    list.parentElement.querySelector(".empty")?.remove();
    api("/notifications/read-all", { method: "POST", body: { maxSequence: String(notification.sequence || 0) }, signal })
      .then(() => setBadge(0))
      .catch(() => {});
  };
  document.addEventListener("shutter:notification", live);
  signal.addEventListener("abort", () => document.removeEventListener("shutter:notification", live));
}
