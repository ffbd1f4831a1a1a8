// A few DOM helpers; the app is small enough that a framework would cost more than it saves.

type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | null | undefined | false;

/** Create an element: `h("button", { class: "chip", "aria-pressed": true }, "All")`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? (name.startsWith("aria-") ? "true" : "") : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** The element with `id` and of `kind`, failing loudly at start-up if index.html and the code disagree. */
export function byId<T extends HTMLElement>(id: string, kind: new () => T): T;
export function byId(id: string): HTMLElement;
export function byId(id: string, kind: new () => HTMLElement = HTMLElement): HTMLElement {
  const el = document.getElementById(id);
  if (!(el instanceof kind)) throw new Error(`index.html has no ${kind.name} #${id}`);
  return el;
}

/** Set text only when it changed, so once-a-second ticks do not disturb screen readers or layout. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Replace a <select>'s options, keeping `selected` chosen. When the option values are the ones it
 * already has, the select is left alone: a dropdown the user has open stays open across refreshes.
 */
export function fillSelect(
  select: HTMLSelectElement,
  options: readonly { value: string; label: string }[],
  selected: string,
): void {
  const same =
    select.options.length === options.length && options.every((o, i) => select.options[i]?.value === o.value);
  if (same) return;
  select.replaceChildren(
    ...options.map((o) => h("option", { value: o.value, selected: o.value === selected }, o.label)),
  );
  select.value = selected;
}
