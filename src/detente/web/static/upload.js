// Filing a plan: drop or choose a file, see what the server says of it (dry run), then file it.

import { ApiError } from "./api.js";
import { el } from "./util.js";
import { conflictTitle, conflictWhere } from "./inbox.js";

export class Upload {
  /** onFiled(result) after a plan is filed; onPreview(conflicts) shows what a dry run found. */
  constructor(api, onFiled, onPreview) {
    this.api = api;
    this.onFiled = onFiled;
    this.onPreview = onPreview;
    this.body = null;
    this.zone = document.getElementById("dropzone");
    this.input = document.getElementById("file-input");
    this.panel = document.getElementById("dry-run");
    this.commit = document.getElementById("commit-plan");
    this.result = document.getElementById("commit-result");
    this.input.addEventListener("change", () => this.input.files[0] && this.take(this.input.files[0]));
    for (const ev of ["dragenter", "dragover"]) {
      this.zone.addEventListener(ev, (e) => {
        e.preventDefault();
        this.zone.classList.add("over");
      });
    }
    this.zone.addEventListener("dragleave", () => this.zone.classList.remove("over"));
    this.zone.addEventListener("drop", (e) => {
      e.preventDefault();
      this.zone.classList.remove("over");
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (file) this.take(file);
    });
    this.commit.addEventListener("click", () => this.file());
    document.getElementById("dry-cancel").addEventListener("click", () => this.reset());
  }

  reset() {
    this.body = null;
    this.panel.hidden = true;
    this.input.value = "";
    this.onPreview([]);
  }

  async take(file) {
    this.name = file.name;
    this.body = await file.text();
    this.result.hidden = true;
    await this.dryRun();
  }

  /** Asks the server what the file would do; shows every error, or the conflicts it would raise. */
  async dryRun() {
    const head = document.getElementById("dry-head");
    const rows = [];
    let ok = false;
    this.commit.disabled = true;
    try {
      const answer = await this.api.post("/v1/plans?dry_run=true", this.body, true);
      ok = true;
      const n = answer.conflicts.length;
      head.replaceChildren(
        el("strong", { text: this.name }),
        ` — ${answer.items.length} item(s) valid; `,
        el("span", { class: n ? "bad" : "good", text: n ? `${n} conflict(s) would be raised` : "no conflict" }),
        answer.resolved.length ? `; ${answer.resolved.length} resolved` : "",
      );
      for (const c of answer.conflicts) {
        rows.push(el("li", { class: "row dry-conflict", testid: "dry-conflict" },
          el("div", { class: "row-title", text: conflictTitle(c) }),
          el("div", { class: "row-sub", text: conflictWhere(c) })));
      }
      this.onPreview(answer.conflicts);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const problem = error.problem;
      head.replaceChildren(el("strong", { text: this.name }), " — ", el("span", { class: "bad", text: problem.title || "refused" }), el("div", { class: "detail", text: problem.detail || "" }));
      for (const e of problem.errors || []) rows.push(errorRow(e.index, e.item, e.field, e.reason));
      const stale = problem.items || [];
      for (const s of stale) rows.push(errorRow(null, s.id, "version", `exists at version ${s.current_version}`));
      if (!rows.length) rows.push(errorRow(null, null, null, problem.detail || error.message));
      if (stale.length && (error.status === 428 || error.status === 409)) {
        rows.push(el("li", { class: "row" }, el("button", {
          type: "button", class: "ghost", text: `Replace these ${stale.length} item(s)`,
          on: { click: () => this.replace(stale) },
        })));
      }
      this.onPreview([]);
    }
    document.getElementById("dry-rows").replaceChildren(...rows);
    this.commit.disabled = !ok;
    this.panel.hidden = false;
    this.panel.scrollIntoView({ block: "nearest" });
  }

  /** Names, in the file, the current version of each item it replaces; then checks again. */
  async replace(stale) {
    const versions = new Map(stale.map((s) => [s.id, s.current_version]));
    const doc = JSON.parse(this.body);
    for (const f of doc.features || []) {
      const id = f.id ?? (f.properties || {}).id;
      if (versions.has(id)) f.version = versions.get(id);
    }
    this.body = JSON.stringify(doc);
    await this.dryRun();
  }

  async file() {
    this.commit.disabled = true;
    this.result.hidden = false;
    this.result.className = "commit-result";
    try {
      const answer = await this.api.post("/v1/plans", this.body, true);
      this.result.classList.add("good");
      this.result.textContent = `Filed ${answer.items.length} item(s) from ${this.name}: ${answer.conflicts.length} conflict(s) raised, ${answer.resolved.length} resolved.`;
      this.panel.hidden = true;
      this.body = null;
      this.input.value = "";
      this.onPreview([]);
      this.onFiled(answer);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.result.classList.add("bad");
      this.result.textContent = `Not filed: ${error.message}`;
      this.commit.disabled = false;
    }
  }
}

function errorRow(index, item, field, reason) {
  return el("li", { class: "row plan-error", testid: "plan-error" },
    el("span", { class: "err-index", text: index === null || index === undefined ? "—" : `#${index}` }),
    el("span", { class: "err-item", text: item || "—" }),
    el("span", { class: "err-field", text: field || "—" }),
    el("span", { class: "err-reason", text: reason || "" }));
}
