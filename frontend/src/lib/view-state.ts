// What the user chose (base, filter, search, sort, headline currency, chart unit and range)
// survives a reload: it is written to the URL query (shareable) and to localStorage (remembered for
// the next visit). On load the URL wins over localStorage, and anything malformed falls back to the default.

import { HISTORY_RANGES, type HistoryRange } from "./history-range";
import { SORT_KEYS, TYPE_FILTERS, type SortDir, type SortKey, type TypeFilter } from "./rates";

export interface ViewState {
  base: string;
  quote: string;
  type: TypeFilter;
  q: string;
  sort: SortKey;
  dir: SortDir;
  chart: string;
  range: HistoryRange;
}

export const DEFAULT_VIEW: Readonly<ViewState> = {
  base: "btc",
  quote: "usd",
  type: "all",
  q: "",
  sort: "value",
  dir: "asc",
  chart: "usd",
  range: "24h",
};

const VIEW_KEYS = Object.keys(DEFAULT_VIEW) as (keyof ViewState)[];

export const STORAGE_KEY = "crypto-rates:view";
const MAX_QUERY = 64;
const CODE = /^[a-z0-9]{1,16}$/;

/** Minimal storage surface so tests can pass a Map-backed fake and a throwing one (privacy mode). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

type Raw = Partial<Record<keyof ViewState, unknown>>;

function pick<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  return typeof value === "string" && (allowed as readonly string[]).includes(value)
    ? (value as T)
    : undefined;
}

function code(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const lower = value.toLowerCase();
  return CODE.test(lower) ? lower : undefined;
}

function sanitize(raw: Raw): Partial<ViewState> {
  const out: Partial<ViewState> = {};
  const set = <K extends keyof ViewState>(key: K, value: ViewState[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set("base", code(raw.base));
  set("quote", code(raw.quote));
  set("chart", code(raw.chart));
  set("type", pick(raw.type, TYPE_FILTERS));
  set("sort", pick(raw.sort, SORT_KEYS));
  set("dir", pick(raw.dir, ["asc", "desc"]));
  set("range", pick(raw.range, HISTORY_RANGES));
  if (typeof raw.q === "string") out.q = raw.q.slice(0, MAX_QUERY);
  return out;
}

function readStorage(storage: KeyValueStore | undefined): Raw {
  try {
    const text = storage?.getItem(STORAGE_KEY);
    const parsed: unknown = text ? JSON.parse(text) : {};
    return typeof parsed === "object" && parsed !== null ? parsed : {};
  } catch {
    return {}; // unreadable or corrupt storage is the same as none
  }
}

function readQuery(search: string): Raw {
  const params = new URLSearchParams(search);
  const raw: Raw = {};
  for (const key of VIEW_KEYS) {
    const value = params.get(key);
    if (value !== null) raw[key] = value;
  }
  return raw;
}

export function loadViewState(search: string, storage: KeyValueStore | undefined): ViewState {
  return { ...DEFAULT_VIEW, ...sanitize(readStorage(storage)), ...sanitize(readQuery(search)) };
}

/**
 * The query string for `state`: only values that differ from the default, so a plain visit keeps
 * a clean URL. Parameters that are not ours (e.g. `refresh`) are kept.
 */
export function toQuery(state: ViewState, currentSearch: string): string {
  const params = new URLSearchParams(currentSearch);
  for (const key of VIEW_KEYS) {
    if (state[key] === DEFAULT_VIEW[key]) params.delete(key);
    else params.set(key, state[key]);
  }
  const query = params.toString();
  return query === "" ? "" : `?${query}`;
}

export function saveViewState(state: ViewState, storage: KeyValueStore | undefined): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch {
    // Storage full or disabled: the URL still carries the state.
  }
}
