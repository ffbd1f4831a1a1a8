// The chart's range selector: a radio group of buttons (WAI-ARIA APG "radio group"). One Tab stop,
// the chosen range; the arrow keys, Home and End move the choice and focus together.

import { HISTORY_RANGES, RANGE_NAMES, type HistoryRange } from "../lib/history-range";
import { h } from "./dom";

const MOVES: Readonly<Record<string, (index: number) => number>> = {
  ArrowRight: (i) => i + 1,
  ArrowDown: (i) => i + 1,
  ArrowLeft: (i) => i - 1,
  ArrowUp: (i) => i - 1,
  Home: () => 0,
  End: () => HISTORY_RANGES.length - 1,
};

export class RangePicker {
  private readonly buttons: HTMLButtonElement[];

  constructor(group: HTMLElement, selected: HistoryRange, onChange: (range: HistoryRange) => void) {
    this.buttons = HISTORY_RANGES.map((range) =>
      h("button", { type: "button", class: "segment", role: "radio", "data-range": range }, RANGE_NAMES[range].button),
    );
    group.replaceChildren(...this.buttons);
    this.select(selected);
    const choose = (button: HTMLButtonElement | undefined) => {
      const range = HISTORY_RANGES.find((r) => r === button?.dataset.range);
      if (range === undefined || button?.getAttribute("aria-checked") === "true") return;
      this.select(range);
      onChange(range);
    };
    group.addEventListener("click", (event) => {
      choose((event.target as Element).closest<HTMLButtonElement>("button[data-range]") ?? undefined);
    });
    group.addEventListener("keydown", (event) => {
      const move = MOVES[event.key];
      const index = this.buttons.findIndex((b) => b === document.activeElement);
      if (move === undefined || index < 0) return;
      event.preventDefault();
      const count = this.buttons.length;
      const next = this.buttons[(move(index) + count) % count];
      next?.focus();
      choose(next);
    });
  }

  /** Show `range` as chosen; the chosen button is the group's one Tab stop. */
  select(range: HistoryRange): void {
    for (const button of this.buttons) {
      const chosen = button.dataset.range === range;
      button.setAttribute("aria-checked", String(chosen));
      button.tabIndex = chosen ? 0 : -1;
    }
  }
}
