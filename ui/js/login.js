// The login page: the same users and roles as WBEM and the REST API.

import * as api from "./api.js";
import { h, fill } from "./dom.js";

export function render(main, { after }) {
  const msg = h("p", { class: "error", role: "alert", id: "login-error" });
  const user = h("input", { id: "login-user", name: "user", autocomplete: "username", required: true, autofocus: true });
  const pass = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h("form", {
    class: "login-form", "aria-describedby": "login-error",
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      msg.textContent = "";
      try {
        await api.login(user.value, pass.value);
        after();
      } catch (err) {
        msg.textContent = err.status === 401 ? "Wrong user name or password." : `Cannot log in: ${err.message}`;
        pass.select();
      } finally {
        button.disabled = false;
      }
    },
  },
  h("label", { for: "login-user" }, "User"), user,
  h("label", { for: "login-password" }, "Password"), pass,
  button, msg);
  fill(main, h("section", { class: "login" },
    h("h1", {}, "vine"),
    h("p", { class: "muted" }, "Log in with a vine user (`vine up` prints the admin's password)."),
    h("section", { class: "panel" }, form)));
  user.focus();
}
