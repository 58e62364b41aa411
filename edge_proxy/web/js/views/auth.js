// Sign in and sign up.

import { login, register } from "../api.js";
import { h, errorBox } from "../dom.js";

function field(label, attrs) {
  const id = `f-${attrs.name}`;
  return h("p", { class: "field" }, h("label", { for: id }, label), h("input", { id, ...attrs }));
}

function form(title, intro, fields, submitLabel, onSubmit, footer) {
  const message = h("div", { class: "form-message" });
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const el = h("form", { class: "card auth", novalidate: true }, h("h1", {}, title), h("p", { class: "muted" }, intro), ...fields, message, button, footer);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    button.disabled = true;
    try {
      await onSubmit(new FormData(el));
      location.hash = "#/";
    } catch (error) {
      message.replaceChildren(errorBox(error));
      button.disabled = false;
    }
  });
  return el;
}

/** The sign-in screen. */
export function signInView({ main }) {
  main.append(
    form(
      "Sign in to Shutter",
      "Share photos and stories with the people you follow.",
      [
        field("Username or email", { name: "username", autocomplete: "username", required: true }),
        field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
      ],
      "Sign in",
      (data) => login(String(data.get("username")).trim(), String(data.get("password"))),
      h("p", {}, "New here? ", h("a", { href: "#/signup" }, "Create an account")),
    ),
  );
}

/** The sign-up screen. */
export function signUpView({ main }) {
  main.append(
    form(
      "Create your account",
      "Pick a username people will find you by.",
      [
        field("Username", { name: "username", autocomplete: "username", required: true, autocapitalize: "none" }),
        field("Full name (optional)", { name: "fullName", autocomplete: "name" }),
        field("Email", { name: "email", type: "email", autocomplete: "email", required: true }),
        field("Password", { name: "password", type: "password", autocomplete: "new-password", required: true }),
      ],
      "Sign up",
      (data) =>
        register({
          username: String(data.get("username")).trim(),
          fullName: String(data.get("fullName")).trim(),
          email: String(data.get("email")).trim(),
          password: String(data.get("password")),
        }),
      h("p", {}, "Have an account? ", h("a", { href: "#/login" }, "Sign in")),
    ),
  );
}
