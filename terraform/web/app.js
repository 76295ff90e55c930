// The registry's web page: reads the registry API with the reader's token and shows modules.
// No framework and no build step. Everything the API returns goes into the page as text
// (textContent), except a README's HTML, which the registry has already cleaned and which is
// cleaned again here before it is shown. The token stays in this tab (sessionStorage) and goes
// only to this origin, in the Authorization header.
"use strict";

(function () {
  const TOKEN_KEY = "tfreg.token";
  const PAGE_SIZE = 20;
  const ORIGIN_LABELS = { pin: "pinned", proxy: "proxied" };

  const $ = (id) => document.getElementById(id);
  const main = $("main");
  let renderCount = 0;

  // --- DOM helpers --------------------------------------------------------------------

  // el("a", { href: "#/", class: "x" }, "text", child): text children become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "hidden") node.hidden = true;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function say(message, kind) {
    const status = $("status");
    status.textContent = message || "";
    status.className = "status" + (kind ? " " + kind : "");
  }

  function isHttpUrl(value) {
    if (typeof value !== "string") return false;
    try {
      const url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:";
    } catch (_) {
      return false;
    }
  }

  const seg = (s) => encodeURIComponent(s);

  // --- token and API ------------------------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    const response = await fetch(path, {
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const detail =
        (body && (body.message || (Array.isArray(body.errors) && body.errors.join("; ")))) ||
        response.statusText;
      throw new ApiError(response.status, detail);
    }
    return body;
  }

  function showSignIn(message) {
    $("sign-in").hidden = false;
    $("sign-out").hidden = true;
    main.replaceChildren();
    say(message, "warn");
  }

  function failed(error) {
    if (error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn("The registry refused that token (401: " + error.message + "). A valid token is needed.");
    } else if (error.status === 403) {
      main.replaceChildren(el("h1", { tabindex: "-1" }, "Forbidden"));
      say("403 Forbidden: this token may not read that (" + error.message + ").", "error");
    } else if (error.status === 404) {
      main.replaceChildren(el("h1", { tabindex: "-1" }, "Not found"));
      say("404 Not found: " + error.message, "error");
    } else {
      say("The registry could not answer: " + (error.status || "") + " " + error.message, "error");
    }
  }

  // --- routes -------------------------------------------------------------------------

  // #/ | #/?offset=20 | #/search?q=vpc&offset=20 | #/modules/ns/name/system[/version]
  function parseHash() {
    const hash = location.hash.startsWith("#/") ? location.hash.slice(1) : "/";
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    const decode = (part) => {
      try {
        return decodeURIComponent(part);
      } catch (_) {
        return part; // a stray "%": taken as written; the API says whether it names anything
      }
    };
    const parts = path.split("/").filter(Boolean).map(decode);
    return { parts, params };
  }

  async function render() {
    const count = ++renderCount;
    const current = () => count === renderCount;
    if (!token()) {
      showSignIn("A registry token is needed to read this registry. Sign in with one below.");
      return;
    }
    $("sign-in").hidden = true;
    $("sign-out").hidden = false;
    const { parts, params } = parseHash();
    const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
    try {
      if (parts[0] === "modules" && parts.length >= 4) {
        const path = "/v1/modules/" + parts.slice(1, 5).map(seg).join("/");
        say("Loading " + parts.slice(1, 5).join("/") + "…");
        const module = await api(path);
        if (!current()) return;
        main.replaceChildren(modulePage(module));
        document.title = module.namespace + "/" + module.name + "/" + module.system + " " + module.version;
      } else if (parts[0] === "search" && (params.get("q") || "").trim()) {
        const q = params.get("q").trim();
        $("q").value = q;
        say("Searching…");
        const query = new URLSearchParams({ q, offset, limit: PAGE_SIZE });
        const list = await api("/v1/modules/search?" + query);
        if (!current()) return;
        const pageLink = (o) => "#/search?" + new URLSearchParams({ q, offset: o });
        main.replaceChildren(listPage("Modules matching “" + q + "”", list, pageLink));
        document.title = "Search: " + q;
      } else {
        const query = new URLSearchParams({ offset, limit: PAGE_SIZE });
        say("Loading modules…");
        const list = await api("/v1/modules?" + query);
        if (!current()) return;
        main.replaceChildren(listPage("All modules", list, (o) => "#/?offset=" + o));
        document.title = "Module registry";
      }
      say("");
    } catch (error) {
      if (current()) failed(error);
    }
  }

  // --- lists --------------------------------------------------------------------------

  function originBadge(origin) {
    const label = ORIGIN_LABELS[origin];
    return label ? el("span", { class: "badge " + origin, title: "origin: " + origin }, label) : null;
  }

  function listPage(title, list, pageLink) {
    const modules = (list && list.modules) || [];
    const meta = (list && list.meta) || {};
    const items = modules.map((m) => {
      // The version the card shows (a proxied module has no "latest" of its own here).
      const href = "#/modules/" + [m.namespace, m.name, m.provider, m.version].map(seg).join("/");
      return el(
        "li",
        { class: "card" },
        el("h2", {}, el("a", { href }, m.namespace + "/" + m.name)),
        el(
          "p",
          { class: "facts" },
          el("span", { class: "badge provider" }, m.provider),
          el("span", { class: "version" }, "v" + m.version),
          originBadge(m.origin),
        ),
        m.description ? el("p", { class: "description" }, m.description) : null,
      );
    });
    const nav = el("nav", { class: "pager", "aria-label": "Pages" });
    if (meta.prev_offset !== undefined && meta.prev_offset !== null && meta.current_offset > 0) {
      nav.append(el("a", { href: pageLink(meta.prev_offset), rel: "prev" }, "← Previous"));
    }
    if (meta.next_offset !== undefined && meta.next_offset !== null) {
      nav.append(el("a", { href: pageLink(meta.next_offset), rel: "next" }, "Next →"));
    }
    return el(
      "div",
      {},
      el("h1", { tabindex: "-1" }, title),
      items.length ? el("ul", { class: "modules" }, items) : el("p", {}, "No modules here."),
      nav,
    );
  }

  // --- a module -----------------------------------------------------------------------

  // "~> MAJOR.MINOR" (also for 0.x: "~> 0.3"); a pre-release is only ever matched exactly.
  function versionConstraint(version) {
    const m = /^(\d+)\.(\d+)\.(\d+)(.*)$/.exec(version || "");
    if (!m || m[4]) return version;
    return "~> " + m[1] + "." + m[2];
  }

  function moduleLabel(name) {
    const label = String(name).replace(/[^A-Za-z0-9_-]/g, "_");
    return /^[A-Za-z_]/.test(label) ? label : "m_" + label;
  }

  function copyBlock(id, label, text) {
    const code = el("pre", { id, class: "code", tabindex: "0" }, el("code", {}, text));
    const button = el("button", { type: "button", class: "copy", "aria-controls": id }, "Copy");
    button.addEventListener("click", () => copy(code, label));
    return el("div", { class: "copy-block" }, el("h3", {}, label), code, button);
  }

  function selectText(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copy(node, label) {
    const fallback = () => {
      selectText(node);
      node.focus();
      const what = label.toLowerCase();
      say("Could not reach the clipboard: the " + what + " is selected, press Ctrl+C (⌘C) to copy it.", "warn");
    };
    if (!navigator.clipboard || !navigator.clipboard.writeText) return fallback();
    navigator.clipboard.writeText(node.textContent).then(
      () => say("Copied the " + label.toLowerCase() + ".", "ok"),
      fallback,
    );
  }

  function table(caption, columns, rows) {
    if (!rows.length) return el("p", { class: "none" }, "No " + caption.toLowerCase() + ".");
    return el(
      "div",
      { class: "scroll", tabindex: "0", role: "region", "aria-label": caption },
      el(
        "table",
        {},
        el("caption", { class: "visually-hidden" }, caption),
        el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c)))),
        el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((cell, i) =>
          i ? el("td", {}, cell) : el("th", { scope: "row" }, cell))))),
      ),
    );
  }

  const externalLink = (url, text) => el("a", { href: url, rel: "noopener noreferrer" }, text || url);
  const sensitiveMark = (item) => (item.sensitive ? el("span", { class: "badge" }, "sensitive") : null);

  const code = (text) => (text === undefined || text === null || text === "" ? "" : el("code", {}, text));

  function inputsTable(inputs) {
    // Required first; otherwise in the module's own order.
    const sorted = (inputs || [])
      .map((input, i) => [input, i])
      .sort(([a, i], [b, j]) => b.required - a.required || i - j);
    return table(
      "Inputs",
      ["Name", "Type", "Description", "Default", "Required"],
      sorted.map(([input]) => [
        code(input.name),
        code(input.type),
        [input.description || "", sensitiveMark(input)],
        input.required ? "" : code(JSON.stringify(input.default)),
        input.required ? el("strong", {}, "yes") : "no",
      ]),
    );
  }

  function outputsTable(outputs) {
    return table(
      "Outputs",
      ["Name", "Description"],
      (outputs || []).map((o) => [code(o.name), [o.description || "", sensitiveMark(o)]]),
    );
  }

  function providersTable(providers) {
    return table(
      "Providers",
      ["Name", "Source", "Version"],
      (providers || []).map((p) => [
        code(p.name),
        code(p.source || (p.namespace ? p.namespace + "/" + p.name : "")),
        code(p.version),
      ]),
    );
  }

  // The README as the registry rendered and sanitised it, parsed into an inert template (nothing
  // in one runs or loads) and cleaned again: no scripts, no event attributes, links only to
  // http(s), mailto or in-page anchors; images become links, as the page loads nothing from
  // other sites (its Content-Security-Policy would refuse them anyway).
  function readmeNode(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const content = template.content;
    const active = "script, style, iframe, frame, object, embed, link, meta, base, form, svg, math";
    content.querySelectorAll(active).forEach((n) => n.remove());
    content.querySelectorAll("img").forEach((img) => {
      const src = img.getAttribute("src");
      const alt = img.getAttribute("alt") || "image";
      img.replaceWith(isHttpUrl(src) ? externalLink(src, "[" + alt + "]") : document.createTextNode(alt));
    });
    content.querySelectorAll("*").forEach((node) => {
      for (const attr of Array.from(node.attributes)) {
        const name = attr.name.toLowerCase();
        const value = attr.value.trim();
        if (name.startsWith("on") || name === "style" || name === "srcdoc" || name === "formaction") {
          node.removeAttribute(attr.name);
        } else if ((name === "href" || name === "src" || name === "xlink:href" || name === "action") &&
          !(isHttpUrl(value) || /^mailto:/i.test(value))) {
          node.removeAttribute(attr.name);
        }
      }
      if (node.tagName === "A") node.setAttribute("rel", "noopener noreferrer");
    });
    const container = el("div", { class: "readme", id: "readme" });
    container.append(content);
    return container;
  }

  function docsOf(part) {
    const providers = part.provider_dependencies || [];
    return [
      el("h3", {}, "Inputs"),
      inputsTable(part.inputs),
      el("h3", {}, "Outputs"),
      outputsTable(part.outputs),
      providers.length ? [el("h3", {}, "Providers"), providersTable(providers)] : null,
    ];
  }

  function partsSection(title, parts) {
    if (!parts || !parts.length) return null;
    return el(
      "section",
      { "aria-labelledby": title.toLowerCase() + "-title" },
      el("h2", { id: title.toLowerCase() + "-title" }, title),
      parts.map((part) =>
        el(
          "details",
          { class: "part" },
          el("summary", {}, el("code", {}, part.path || part.name), " — ",
            (part.inputs || []).length + " inputs, " + (part.outputs || []).length + " outputs"),
          part.readme_html ? readmeNode(part.readme_html) : null,
          docsOf(part),
        ),
      ),
    );
  }

  function fact(term, value) {
    if (value === undefined || value === null || value === "") return null;
    return [el("dt", {}, term), el("dd", {}, value)];
  }

  function modulePage(m) {
    const base = "#/modules/" + [m.namespace, m.name, m.system].map(seg).join("/");
    const host = location.host;
    const root = m.root || {};
    const moduleBlock =
      "module \"" + moduleLabel(m.name) + "\" {\n" +
      "  source  = \"" + host + "/" + m.namespace + "/" + m.name + "/" + m.system + "\"\n" +
      "  version = \"" + versionConstraint(m.version) + "\"\n" +
      "}\n";
    const credentialsBlock = "credentials \"" + host + "\" {\n  token = \"<your token>\"\n}\n";
    const provenance = m.origin && m.origin !== "upload"
      ? el("p", { class: "provenance" }, originBadge(m.origin), " ",
        m.origin === "pin" ? "Pinned from " : "Proxied from ",
        isHttpUrl(m.origin_url) ? externalLink(m.origin_url) : code(m.origin_url || "an upstream registry"))
      : null;
    const versions = (m.versions || []).slice().reverse();
    const section = (id, title, ...content) =>
      el("section", { "aria-labelledby": id + "-title" }, el("h2", { id: id + "-title" }, title), content);

    const docs = el(
      "div",
      { class: "module-docs" },
      m.docs_available === false
        ? el("p", { class: "status warn" }, "The docs of this version are not available",
          m.docs_unavailable_reason ? ": " + m.docs_unavailable_reason : ".")
        : null,
      m.parse_errors && m.parse_errors.length
        ? el("details", { class: "part" },
          el("summary", {}, m.parse_errors.length + " problem(s) reading the module"),
          el("ul", {}, m.parse_errors.map((e) => el("li", {}, e))))
        : null,
      section("readme", "README",
        root.readme_html ? readmeNode(root.readme_html) : el("p", { class: "none" }, "No README.")),
      section("inputs", "Inputs", inputsTable(root.inputs)),
      section("outputs", "Outputs", outputsTable(root.outputs)),
      section("providers", "Providers", providersTable(root.provider_dependencies)),
      partsSection("Submodules", m.submodules),
      partsSection("Examples", m.examples),
    );
    const side = el(
      "aside",
      { class: "module-side", "aria-label": "Using this module" },
      section(
        "usage",
        "Use it",
        copyBlock("module-block", "Module block", moduleBlock),
        copyBlock("credentials-block", "Credentials block", credentialsBlock),
        el("p", { class: "hint" }, "Put the credentials block in your Terraform CLI configuration " +
          "(~/.terraformrc, or the file TF_CLI_CONFIG_FILE names), with your own token."),
      ),
      section(
        "about",
        "About",
        el(
          "dl",
          { class: "facts-list" },
          fact("Provider", m.system),
          fact("Published", m.published_at || m.uploaded_at),
          fact("Uploaded by", m.uploader),
          fact("Origin", m.origin),
          fact("Repository", isHttpUrl(m.repository_url) ? externalLink(m.repository_url) : null),
          fact("Terraform", root.required_version ? code(root.required_version) : null),
          fact("SHA-256", m.sha256 ? code(m.sha256) : null),
        ),
      ),
      section(
        "versions",
        "Versions",
        el("ul", { class: "versions" }, versions.map((v) =>
          el("li", {}, el("a", { href: base + "/" + seg(v), "aria-current": v === m.version ? "page" : null }, v)),
        )),
      ),
    );
    return el(
      "div",
      {},
      el("nav", { class: "crumbs", "aria-label": "Breadcrumb" },
        el("a", { href: "#/" }, "All modules"), " / ", m.namespace + "/" + m.name),
      el("h1", { tabindex: "-1" }, m.namespace + "/" + m.name + "/" + m.system, " ",
        el("span", { class: "version" }, "v" + m.version)),
      m.description ? el("p", { class: "description" }, m.description) : null,
      provenance,
      el("div", { class: "module-layout" }, docs, side),
    );
  }

  // --- wiring -------------------------------------------------------------------------

  function start() {
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("token");
      const value = input.value.trim();
      input.value = "";
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      say("Signed in.", "ok");
      render();
    });
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      renderCount++;
      showSignIn("Signed out. The token is gone from this tab.");
    });
    $("search").addEventListener("submit", (event) => {
      event.preventDefault();
      const q = $("q").value.trim();
      location.hash = q ? "#/search?" + new URLSearchParams({ q }) : "#/";
    });
    // The skip link must not change the hash (the hash is the route).
    document.querySelector(".skip").addEventListener("click", (event) => {
      event.preventDefault();
      main.focus();
    });
    window.addEventListener("hashchange", () => {
      if (!location.hash || location.hash.startsWith("#/")) {
        render().then(() => {
          const heading = main.querySelector("h1");
          if (heading) heading.focus();
        });
      }
    });
    render();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
