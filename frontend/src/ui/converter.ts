// The converter: amount, from, swap, to. Computed locally from the current snapshot, so it answers
// as you type; a bad amount gets an inline message instead of a result.

import { formatAmount, formatValue } from "../lib/format";
import { convert, findRate, parseAmount, type Rate } from "../lib/rates";
import { fillSelect, setText } from "./dom";

export interface ConverterElements {
  form: HTMLFormElement;
  amount: HTMLInputElement;
  from: HTMLSelectElement;
  to: HTMLSelectElement;
  swap: HTMLButtonElement;
  error: HTMLElement;
  result: HTMLElement;
  rate: HTMLElement;
}

export class Converter {
  private rates: readonly Rate[] = [];

  constructor(
    private readonly els: ConverterElements,
    private from: string,
    private to: string,
  ) {
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
    });
    els.amount.addEventListener("input", () => {
      this.update();
    });
    els.from.addEventListener("change", () => {
      this.from = els.from.value;
      this.update();
    });
    els.to.addEventListener("change", () => {
      this.to = els.to.value;
      this.update();
    });
    els.swap.addEventListener("click", () => {
      [this.from, this.to] = [this.to, this.from];
      els.from.value = this.from;
      els.to.value = this.to;
      this.update();
    });
  }

  /** New snapshot: refresh the unit lists (kept as they are when the codes are the same) and the result. */
  setRates(rates: readonly Rate[], options: readonly { value: string; label: string }[]): void {
    this.rates = rates;
    if (findRate(rates, this.from) === undefined) this.from = "btc";
    if (findRate(rates, this.to) === undefined) this.to = rates[0]?.code ?? "btc";
    fillSelect(this.els.from, options, this.from);
    fillSelect(this.els.to, options, this.to);
    this.els.from.disabled = false;
    this.els.to.disabled = false;
    this.update();
  }

  private update(): void {
    const from = findRate(this.rates, this.from);
    const to = findRate(this.rates, this.to);
    if (from === undefined || to === undefined) return;
    const parsed = parseAmount(this.els.amount.value);
    if (!parsed.ok) {
      setText(this.els.error, parsed.message);
      this.els.amount.setAttribute("aria-invalid", "true");
      setText(this.els.result, "");
      setText(this.els.rate, "");
      return;
    }
    setText(this.els.error, "");
    this.els.amount.removeAttribute("aria-invalid");
    const result = convert(parsed.value, from, to);
    setText(
      this.els.result,
      `${formatAmount(parsed.value)} ${from.code.toUpperCase()} = ${formatValue(result)} ${to.code.toUpperCase()}`,
    );
    this.els.result.dataset.value = String(result);
    setText(
      this.els.rate,
      `1 ${from.code.toUpperCase()} = ${formatValue(convert(1, from, to))} ${to.code.toUpperCase()} · 1 ${to.code.toUpperCase()} = ${formatValue(convert(1, to, from))} ${from.code.toUpperCase()}`,
    );
  }
}
