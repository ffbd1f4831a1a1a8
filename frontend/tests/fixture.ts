// The recorded CoinGecko response bundled with the backend (61 units, values per 1 BTC).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Rate } from "../src/lib/rates";

const path = fileURLToPath(new URL("../../backend/crypto_rates/data/sample-exchange-rates.json", import.meta.url));
const payload = JSON.parse(readFileSync(path, "utf8")) as { rates: Record<string, Omit<Rate, "code">> };

export const FIXTURE_RATES: Rate[] = Object.entries(payload.rates).map(([code, r]) => ({ code, ...r }));

export function rate(code: string): Rate {
  const found = FIXTURE_RATES.find((r) => r.code === code);
  if (found === undefined) throw new Error(`fixture has no ${code}`);
  return found;
}
