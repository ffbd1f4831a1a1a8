// The rates table: type chips, search, sortable headers and the rows.

import { formatValue } from "../lib/format";
import { TYPE_FILTERS, type Rate, type Selection, type SortKey, type TypeFilter } from "../lib/rates";
import { h, setText } from "./dom";

export interface TableElements {
  chips: HTMLElement;
  search: HTMLInputElement;
  head: HTMLTableRowElement;
  body: HTMLTableSectionElement;
  caption: HTMLElement;
  foot: HTMLElement;
}

export interface TableHandlers {
  onType(type: TypeFilter): void;
  onSearch(q: string): void;
  onSort(key: SortKey): void;
  onChart(code: string): void;
}

const COLUMNS: readonly { key: SortKey; label: string; className: string }[] = [
  { key: "code", label: "Code", className: "col-code" },
  { key: "name", label: "Name", className: "col-name" },
  { key: "type", label: "Type", className: "col-type" },
  { key: "unit", label: "Unit", className: "col-unit" },
  { key: "value", label: "Value", className: "col-value" },
];

const TYPE_LABELS: Record<TypeFilter, string> = {
  all: "All",
  fiat: "Fiat",
  crypto: "Crypto",
  commodity: "Commodity",
};

export class RatesTable {
  private renders = 0;

  constructor(
    private readonly els: TableElements,
    handlers: TableHandlers,
  ) {
    els.chips.addEventListener("click", (event) => {
      const chip = (event.target as Element).closest<HTMLButtonElement>("button[data-type]");
      if (chip?.dataset.type) handlers.onType(chip.dataset.type as TypeFilter);
    });
    els.search.addEventListener("input", () => {
      handlers.onSearch(els.search.value);
    });
    els.head.addEventListener("click", (event) => {
      const button = (event.target as Element).closest<HTMLButtonElement>("button[data-sort]");
      if (button?.dataset.sort) handlers.onSort(button.dataset.sort as SortKey);
    });
    els.body.addEventListener("click", (event) => {
      const button = (event.target as Element).closest<HTMLButtonElement>("button[data-code]");
      if (button?.dataset.code) handlers.onChart(button.dataset.code);
    });
  }

  /** Placeholder rows shown until the first data arrives. */
  renderSkeleton(): void {
    const bar = () => h("td", {}, h("span", { class: "skeleton skeleton-cell" }));
    const rows = Array.from({ length: 8 }, () => h("tr", { class: "skeleton-row" }, bar(), bar(), bar(), bar(), bar()));
    this.els.body.replaceChildren(...rows);
    this.els.body.setAttribute("aria-busy", "true");
  }

  render(rows: readonly Rate[], base: Rate, sel: Selection, counts: Record<TypeFilter, number>): void {
    const focused = this.focusedButton();
    this.renderChips(sel.type, counts);
    if (this.els.search.value !== sel.q) this.els.search.value = sel.q;
    this.renderHead(base, sel);
    this.els.body.replaceChildren(...(rows.length > 0 ? rows.map((r) => this.row(r, base)) : [this.emptyRow(sel)]));
    this.els.body.removeAttribute("aria-busy");
    this.refocus(focused);
    // Counted so the end-to-end tests can tell a re-render from an untouched table (304).
    this.renders += 1;
    this.els.body.dataset.renders = String(this.renders);
    this.els.body.dataset.rows = String(rows.length);
    setText(this.els.caption, `Exchange rates per 1 ${base.code.toUpperCase()}, ${rows.length} shown`);
    setText(
      this.els.foot,
      `${rows.length} of ${counts.all} currencies · values are units of each currency per 1 ${base.code.toUpperCase()} (${base.name})`,
    );
  }

  /** The chip, sort or code button that has focus, as a selector for its replacement after a render. */
  private focusedButton(): string | null {
    const el = document.activeElement;
    const ours = [this.els.chips, this.els.head, this.els.body].some((part) => part.contains(el));
    if (!(el instanceof HTMLButtonElement) || !ours) return null;
    for (const attr of ["data-type", "data-sort", "data-code"]) {
      const value = el.getAttribute(attr);
      if (value !== null) return `button[${attr}="${CSS.escape(value)}"]`;
    }
    return null;
  }

  /** A render replaces the buttons: without this, a keyboard user's focus would fall back to the page. */
  private refocus(selector: string | null): void {
    if (selector === null || document.activeElement !== document.body) return;
    for (const part of [this.els.chips, this.els.head, this.els.body]) {
      const button = part.querySelector<HTMLButtonElement>(selector);
      if (button !== null) {
        button.focus({ preventScroll: true });
        return;
      }
    }
  }

  private renderChips(active: TypeFilter, counts: Record<TypeFilter, number>): void {
    this.els.chips.replaceChildren(
      ...TYPE_FILTERS.map((t) =>
        h(
          "button",
          { type: "button", class: "chip", "data-type": t, "aria-pressed": String(t === active) },
          TYPE_LABELS[t],
          h("span", { class: "chip-count" }, String(counts[t])),
        ),
      ),
    );
  }

  private renderHead(base: Rate, sel: Selection): void {
    this.els.head.replaceChildren(
      ...COLUMNS.map(({ key, label, className }) => {
        const sorted = sel.sort === key;
        const text = key === "value" ? `Per 1 ${base.code.toUpperCase()}` : label;
        const arrow = sorted ? (sel.dir === "asc" ? "▲" : "▼") : "↕";
        return h(
          "th",
          {
            scope: "col",
            class: className,
            "aria-sort": sorted ? (sel.dir === "asc" ? "ascending" : "descending") : undefined,
          },
          h(
            "button",
            { type: "button", class: "sort", "data-sort": key, "aria-label": `Sort by ${label.toLowerCase()}` },
            text,
            h("span", { class: sorted ? "sort-arrow is-active" : "sort-arrow", "aria-hidden": "true" }, arrow),
          ),
        );
      }),
    );
  }

  private row(rate: Rate, base: Rate): HTMLTableRowElement {
    return h(
      "tr",
      { "data-code": rate.code, class: rate.code === base.code ? "is-base" : undefined },
      h(
        "th",
        { scope: "row", class: "col-code" },
        h(
          "button",
          { type: "button", class: "code", "data-code": rate.code, title: `Show ${rate.name} in the history chart` },
          rate.code.toUpperCase(),
        ),
      ),
      h("td", { class: "col-name" }, rate.name),
      h("td", { class: "col-type" }, h("span", { class: `badge badge-${rate.type}` }, rate.type)),
      h("td", { class: "col-unit" }, rate.unit),
      h("td", { class: "col-value num", "data-value": String(rate.value) }, formatValue(rate.value)),
    );
  }

  private emptyRow(sel: Selection): HTMLTableRowElement {
    const what = sel.q.trim() === "" ? "No currency of this type." : `No currency matches “${sel.q.trim()}”.`;
    return h("tr", { class: "empty" }, h("td", { colspan: COLUMNS.length }, what));
  }
}
