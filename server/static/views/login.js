// Sign in; or watch a session without an account.

import { ApiError, signIn } from "../api.js";
import { h } from "../dom.js";

export function mount(root, { query, go }) {
  const next = query.get("next") || "/sessions";
  const error = h("p", { class: "message error", role: "alert", id: "login-error", hidden: true });
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card narrow", id: "login-form", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in"),
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"), user),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), pass),
    error,
    submit,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await signIn(user.value.trim(), pass.value);
      go(next);
    } catch (err) {
      error.hidden = false;
      error.textContent = err instanceof ApiError && err.status === 401 ? "Wrong username or password." : `Could not sign in: ${err.message}`;
      pass.select();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });

  // `pattern` is compiled with the RegExp `v` flag, where a bare "-" in a class is a syntax error.
  const sid = h("input", { id: "watch-id", name: "session", placeholder: "session id", autocapitalize: "none", spellcheck: "false", required: true, pattern: "[\\w\\-]+" });
  const watch = h(
    "form",
    { class: "card narrow", id: "watch-form", "aria-labelledby": "watch-title" },
    h("h2", { id: "watch-title" }, "Watch without an account"),
    h("p", { class: "muted" }, "Observers need no account where the session admits them. Paste the session id, or open the link the court shared."),
    h("div", { class: "field" }, h("label", { for: "watch-id" }, "Session id"), sid),
    h("button", { type: "submit" }, "Watch"),
  );
  watch.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go(`/watch/${sid.value.trim()}`);
  });
  root.append(h("div", { class: "stack" }, form, watch));
  user.focus();
  return { dispose() {} };
}
