// Number and time formatting. Rates span 1e-9 .. 1e9 (sats per gold ounce vs. VND per BTC), so the
// number of digits shown depends on the magnitude: large values get two decimals and grouping,
// small values keep four significant digits, extremes switch to scientific notation.

const formatters = new Map<string, Intl.NumberFormat>();

function formatter(locale: string | undefined, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale ?? ""}|${JSON.stringify(options)}`;
  let cached = formatters.get(key);
  if (cached === undefined) {
    cached = new Intl.NumberFormat(locale, options);
    formatters.set(key, cached);
  }
  return cached;
}

/** A rate or amount, readable whatever its magnitude: 1e9 → "1,000,000,000.00", 2e-5 → "0.00002". */
export function formatValue(value: number, locale?: string): string {
  if (!Number.isFinite(value)) return "—";
  const size = Math.abs(value);
  if (size === 0) return formatter(locale, { maximumFractionDigits: 0 }).format(value);
  if (size >= 1e15 || size < 1e-9) {
    return formatter(locale, { notation: "scientific", maximumSignificantDigits: 4 }).format(value);
  }
  if (size >= 1) {
    return formatter(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
  }
  return formatter(locale, { maximumSignificantDigits: 4 }).format(value);
}

/** An amount as the user typed it: no forced decimals, up to 10 of them ("1", "2.5", "0.0001"). */
export function formatAmount(value: number, locale?: string): string {
  if (!Number.isFinite(value)) return "—";
  return formatter(locale, { maximumFractionDigits: 10 }).format(value);
}

/** "just now", "42 s ago", "2 min ago", "3 h ago", "2 days ago" for an age in seconds. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** "4:05" for 245 seconds; "1:02:03" past an hour. Used by the next-update countdown. */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const two = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}
