// Rate arithmetic and table selection. The API sends every value as units per 1 BTC (the upstream
// base); any other base is a cross rate computed here, so switching base needs no request.

export const RATE_TYPES = ["fiat", "crypto", "commodity"] as const;
export type RateType = (typeof RATE_TYPES)[number];

export interface Rate {
  code: string;
  name: string;
  unit: string;
  type: RateType;
  /** Units of this currency per 1 BTC (or per 1 base after `rebase`). */
  value: number;
}

export const TYPE_FILTERS = ["all", ...RATE_TYPES] as const;
export type TypeFilter = (typeof TYPE_FILTERS)[number];
export const SORT_KEYS = ["code", "name", "type", "unit", "value"] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDir = "asc" | "desc";

export function findRate(rates: readonly Rate[], code: string): Rate | undefined {
  return rates.find((r) => r.code === code);
}

/** The API's base: its values are units per 1 BTC. */
export const API_BASE = "btc";

/**
 * Values as units per 1 `base`: value(X per base) = value(X per BTC) / value(base per BTC).
 * For BTC itself the API's values are used as they are, exactly as the backend serves them.
 */
export function rebase(rates: readonly Rate[], base: string): Rate[] {
  const baseRate = findRate(rates, base);
  if (baseRate === undefined) throw new Error(`unknown base currency "${base}"`);
  if (base === API_BASE) return rates.map((r) => ({ ...r }));
  return rates.map((r) => ({ ...r, value: r.value / baseRate.value }));
}

/** `amount` of `from` expressed in `to`; both values per 1 BTC. */
export function convert(amount: number, from: Rate, to: Rate): number {
  return (amount * to.value) / from.value;
}

export const MAX_AMOUNT = 1e15;

export type ParsedAmount = { ok: true; value: number } | { ok: false; message: string };

/**
 * The converter's amount field. Accepts "2.5", "2,5" (decimal comma), "1 000.5" and "1,000.5"
 * (grouping); anything else gets a message saying what is valid, never NaN.
 */
export function parseAmount(text: string): ParsedAmount {
  let s = text.trim().replace(/[\s\u00a0\u202f_]/g, "");
  if (s === "") return { ok: false, message: "Enter an amount, for example 2.5." };
  if (s.includes(".") && s.includes(",")) s = s.replace(/,/g, "");
  else if (/^\d{1,3}(,\d{3})+$/.test(s)) s = s.replace(/,/g, "");
  else s = s.replace(",", ".");
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) {
    return { ok: false, message: `"${text.trim()}" is not a number. Use digits, for example 2.5.` };
  }
  const value = Number(s);
  if (!Number.isFinite(value) || value > MAX_AMOUNT) {
    return { ok: false, message: "That amount is too large; the maximum is 1e15." };
  }
  if (value <= 0) return { ok: false, message: "The amount must be greater than zero." };
  return { ok: true, value };
}

export interface Selection {
  type: TypeFilter;
  q: string;
  sort: SortKey;
  dir: SortDir;
}

/** The table rows: filtered by type and search text (code or name), then sorted. */
export function selectRows(rates: readonly Rate[], sel: Selection): Rate[] {
  const q = sel.q.trim().toLowerCase();
  const rows = rates.filter(
    (r) =>
      (sel.type === "all" || r.type === sel.type) &&
      (q === "" || r.code.toLowerCase().includes(q) || r.name.toLowerCase().includes(q)),
  );
  const sign = sel.dir === "asc" ? 1 : -1;
  const key = sel.sort;
  return rows.sort((a, b) => {
    const order =
      key === "value" ? a.value - b.value : a[key].localeCompare(b[key], "en", { sensitivity: "base" });
    // Ties (same type, same unit) keep a stable, readable order by code.
    return order !== 0 ? sign * order : a.code.localeCompare(b.code);
  });
}

export function countByType(rates: readonly Rate[]): Record<TypeFilter, number> {
  const counts: Record<TypeFilter, number> = { all: rates.length, fiat: 0, crypto: 0, commodity: 0 };
  for (const r of rates) counts[r.type] += 1;
  return counts;
}
