/** Routes, the page frame and the session guard. */
import { ApiError, getToken, onUnauthorized } from "@/lib/api-client";
import { h, clear } from "@/lib/dom";
import { errorBanner } from "@/components/error-banner";
import { currentRoute, navigate, replaceParams } from "@/app/router";
import { getMe } from "@/features/auth/api/get-me";
import { logout } from "@/features/auth/api/login";
import { loginForm } from "@/features/auth/components/login-form";
import { getProject, getProjects } from "@/features/projects/api/get-projects";
import { projectList } from "@/features/projects/components/project-list";
import { getCases } from "@/features/queue/api/get-cases";
import { nextCase } from "@/features/queue/api/next-case";
import { queueTable } from "@/features/queue/components/queue-table";
import { workspace } from "@/features/annotate/components/workspace";
import { dashboard } from "@/features/dashboard/components/dashboard";

let teardown: (() => void) | null = null;

function frame(main: HTMLElement, user?: string): HTMLElement {
  return h(
    "div",
    { class: "shell" },
    h("a", { class: "skip", href: "#main" }, "Skip to content"),
    h("nav", { class: "topbar", "aria-label": "Main" },
      h("a", { href: "#/", class: "brand" }, "Concord"),
      user ? h("span", { class: "muted" }, user) : null,
      user ? h("button", { type: "button", class: "link", onclick: () => { logout(); navigate("login"); } }, "Log out") : null),
    h("main", { id: "main", tabindex: "-1" }, main),
  );
}

async function render(root: HTMLElement): Promise<void> {
  teardown?.();
  teardown = null;
  const route = currentRoute();
  const [page = "", slug] = route.path;
  if (page === "login" || !getToken()) {
    clear(root);
    root.append(frame(h("div", { class: "center" }, loginForm(() => navigate("")))));
    return;
  }
  const main = h("div", { class: "page" }, h("p", { class: "muted" }, "Loading…"));
  clear(root);
  let me;
  try {
    me = await getMe();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return navigate("login");
    main.replaceChildren(errorBanner((e as Error).message, () => void render(root)));
    root.append(frame(main));
    return;
  }
  root.append(frame(main, me.username));
  try {
    if (page === "" || page === "projects") {
      const projects = await getProjects();
      main.replaceChildren(h("h1", {}, "Your projects"), projectList(projects, me.is_staff));
    } else if (page === "queue" && slug) {
      const [project, cases] = await Promise.all([getProject(slug), getCases(slug)]);
      main.replaceChildren(
        h("h1", {}, `${project.name}: queue`),
        h("p", {}, h("a", { class: "button primary", href: `#/annotate/${slug}` }, "Next case")),
        queueTable(slug, cases.results),
      );
    } else if (page === "annotate" && slug) {
      const project = await getProject(slug);
      const caseParam = route.params.get("case");
      if (!caseParam) {
        main.replaceChildren(h("p", { class: "muted" }, "Asking the queue for your next case…"));
        let next;
        try {
          next = await nextCase(slug);
        } catch (e) {
          const msg = e instanceof ApiError && e.status === 404
            ? "The server cannot hand out cases yet (no “next case” endpoint). Open a case from the queue instead."
            : `Could not get the next case: ${(e as Error).message}`;
          main.replaceChildren(errorBanner(msg, () => void render(root)), h("p", {}, h("a", { class: "button", href: `#/queue/${slug}` }, "Open the queue")));
          return;
        }
        if (!next) {
          main.replaceChildren(h("div", { class: "card" }, h("h1", {}, "All done"), h("p", {}, "There are no cases left for you in this project. Thank you!"), h("a", { class: "button", href: "#/" }, "Back to projects")));
          return;
        }
        replaceParams({ case: next.case.id });
        return render(root);
      }
      const ws = workspace({
        project,
        caseId: Number(caseParam),
        preset: route.params.get("preset") ?? undefined,
        onNext: () => navigate(`annotate/${slug}`),
        onViewState: (s) => replaceParams(s),
      });
      main.replaceChildren(ws.el);
      main.classList.add("wide");
      teardown = ws.destroy;
    } else if (page === "dashboard" && slug) {
      const project = await getProject(slug);
      const d = dashboard(project);
      main.replaceChildren(d.el);
      teardown = d.destroy;
    } else {
      main.replaceChildren(h("h1", {}, "Page not found"), h("a", { href: "#/" }, "Back to projects"));
    }
  } catch (e) {
    main.replaceChildren(errorBanner((e as Error).message, () => void render(root)));
  }
}

export function startApp(root: HTMLElement): void {
  onUnauthorized(() => {
    logout();
    if (currentRoute().path[0] !== "login") navigate("login");
  });
  window.addEventListener("hashchange", () => void render(root));
  void render(root);
}
