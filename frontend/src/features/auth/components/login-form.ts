import { ApiError } from "@/lib/api-client";
import { h } from "@/lib/dom";
import { errorBanner } from "@/components/error-banner";
import { login } from "@/features/auth/api/login";

/** The login form; calls onDone after a token was obtained. */
export function loginForm(onDone: () => void): HTMLElement {
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autofocus: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("div", { class: "form-msg" });
  const button = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h(
    "form",
    { class: "card login", "aria-label": "Log in" },
    h("h1", {}, "Concord"),
    h("p", { class: "muted" }, "Multi-rater 3D annotation"),
    h("label", { for: "username" }, "Username"),
    user,
    h("label", { for: "password" }, "Password"),
    pass,
    msg,
    button,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    button.disabled = true;
    try {
      await login(user.value.trim(), pass.value);
      onDone();
    } catch (e) {
      const text =
        e instanceof ApiError && e.status === 400 ? "Wrong username or password." : (e as Error).message;
      msg.append(errorBanner(text));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
