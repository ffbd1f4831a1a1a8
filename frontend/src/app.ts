// The page controller: holds the last good snapshot, asks the API on schedule, and renders.
// Data flows one way: API → state → render. A failed request never clears what is shown.

import { ApiClient, ApiError, historyPath, type RatesList } from "./api/client";
import { formatAge, formatCountdown, formatValue } from "./lib/format";
import { RANGE_NAMES, seriesNote } from "./lib/history-range";
import { countByType, findRate, rebase, selectRows, type Rate, type SortKey } from "./lib/rates";
import { RefreshSchedule, refreshSecondsFrom } from "./lib/schedule";
import { loadViewState, saveViewState, toQuery, type KeyValueStore, type ViewState } from "./lib/view-state";
import { HistoryChart } from "./ui/chart";
import { Converter } from "./ui/converter";
import { byId, fillSelect, h, setText } from "./ui/dom";
import { RangePicker } from "./ui/range-picker";
import { RatesTable } from "./ui/table";

/** Shown under the headline: 1 BTC in a few other widely used units. */
const HEADLINE_OTHERS = ["usd", "eur", "gbp", "jpy", "eth", "xau"];
const TICK_MS = 500; // display ticks; also when a due refresh fires

interface Snapshot {
  body: RatesList;
  etag: string | null;
  /** Local clock time of the upstream fetch, from age_seconds, so client clock skew does not matter. */
  fetchedAtMs: number;
}

/** `?refresh=<seconds>` as milliseconds, or null: poll when the API's max-age runs out. */
function fixedIntervalMs(search: string): number | null {
  const seconds = refreshSecondsFrom(search);
  return seconds === null ? null : seconds * 1000;
}

function safeStorage(): KeyValueStore | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined; // storage blocked (privacy settings): the URL alone keeps the state
  }
}

export class App {
  private readonly client = new ApiClient();
  private readonly storage = safeStorage();
  private readonly schedule = new RefreshSchedule(fixedIntervalMs(location.search), Date.now());
  private view: ViewState = loadViewState(location.search, this.storage);
  private snapshot: Snapshot | null = null;
  private error: ApiError | null = null;
  private inFlight = false;
  private historyRequest = 0;
  /** Which series the chart shows ("code|base|range"); another one is loaded with a loading state. */
  private shownSeries = "";
  private bannerKey = "";

  private readonly table = new RatesTable(
    {
      chips: byId("type-filter"),
      search: byId("search", HTMLInputElement),
      head: byId("rates-head", HTMLTableRowElement),
      body: byId("rates-body", HTMLTableSectionElement),
      caption: byId("rates-caption"),
      foot: byId("rates-foot"),
    },
    {
      onType: (type) => {
        this.update({ type });
      },
      onSearch: (q) => {
        this.update({ q });
      },
      onSort: (key) => {
        this.sortBy(key);
      },
      onChart: (chart) => {
        this.update({ chart });
        const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
        byId("chart-title").scrollIntoView({ behavior: still ? "auto" : "smooth", block: "nearest" });
      },
    },
  );
  private readonly converter = new Converter(
    {
      form: byId("converter", HTMLFormElement),
      amount: byId("amount", HTMLInputElement),
      from: byId("from", HTMLSelectElement),
      to: byId("to", HTMLSelectElement),
      swap: byId("swap", HTMLButtonElement),
      error: byId("amount-error"),
      result: byId("convert-result"),
      rate: byId("convert-rate"),
    },
    "btc",
    this.view.quote,
  );
  private readonly chart = new HistoryChart(byId("chart"));
  private readonly rangePicker = new RangePicker(byId("chart-range"), this.view.range, (range) => {
    this.update({ range });
  });
  private readonly els = {
    updated: byId("updated"),
    next: byId("next-update"),
    dot: byId("status-dot"),
    refresh: byId("refresh", HTMLButtonElement),
    banners: byId("banners"),
    announcer: byId("announcer"),
    quote: byId("quote", HTMLSelectElement),
    headline: byId("headline-value"),
    headlineSub: byId("headline-sub"),
    headlineMore: byId("headline-more"),
    base: byId("base", HTMLSelectElement),
    chartCode: byId("chart-code", HTMLSelectElement),
    chartCaption: byId("chart-caption"),
    chartNote: byId("chart-note"),
    chartCsv: byId("chart-csv", HTMLAnchorElement),
  };

  start(): void {
    this.table.renderSkeleton();
    this.els.refresh.addEventListener("click", () => void this.refresh());
    this.els.quote.addEventListener("change", () => {
      this.update({ quote: this.els.quote.value });
    });
    this.els.base.addEventListener("change", () => {
      this.update({ base: this.els.base.value });
    });
    this.els.chartCode.addEventListener("change", () => {
      this.update({ chart: this.els.chartCode.value });
    });
    // Paused while hidden (the tick skips), refreshed as soon as the tab is shown again.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") void this.refresh();
    });
    window.setInterval(() => {
      this.tick();
    }, TICK_MS);
    void this.refresh();
  }

  /** Ask the API now. Overlapping calls are dropped: one request at a time. */
  async refresh(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    // Busy, not disabled: disabling the focused button would drop keyboard focus.
    this.els.refresh.setAttribute("aria-busy", "true");
    this.els.refresh.classList.add("is-busy");
    try {
      const answer = await this.client.rates(this.snapshot?.etag ?? null);
      this.error = null;
      this.schedule.succeeded(Date.now(), answer.maxAgeSeconds);
      // 304: the snapshot we hold is current. Nothing to re-render.
      if (answer.kind === "fresh") this.accept(answer.body, answer.etag);
    } catch (error) {
      this.error =
        error instanceof ApiError ? error : new ApiError("invalid", null, "Unexpected error", String(error));
      this.schedule.failed(Date.now());
    } finally {
      this.inFlight = false;
      this.els.refresh.removeAttribute("aria-busy");
      this.els.refresh.classList.remove("is-busy");
      this.renderBanners();
      this.tick();
    }
  }

  private accept(body: RatesList, etag: string | null): void {
    const first = this.snapshot === null;
    const { rates } = body;
    this.snapshot = { body, etag, fetchedAtMs: Date.now() - body.age_seconds * 1000 };
    this.view = this.validView(this.view, rates);
    const options = rates.map((r) => ({ value: r.code, label: `${r.code.toUpperCase()} · ${r.name}` }));
    for (const [select, value] of [
      [this.els.quote, this.view.quote],
      [this.els.base, this.view.base],
      [this.els.chartCode, this.view.chart],
    ] as const) {
      fillSelect(select, options, value);
      select.disabled = false;
    }
    this.converter.setRates(rates, options);
    this.render();
    void this.loadHistory();
    setText(
      this.els.announcer,
      first ? `Rates loaded: ${rates.length} currencies.` : `Rates updated at ${new Date().toLocaleTimeString()}.`,
    );
  }

  /** Codes from the URL or storage that this snapshot does not know fall back to defaults. */
  private validView(view: ViewState, rates: readonly Rate[]): ViewState {
    const known = (code: string, fallback: string) =>
      findRate(rates, code) !== undefined ? code : (findRate(rates, fallback)?.code ?? rates[0]?.code ?? code);
    return {
      ...view,
      base: known(view.base, "btc"),
      quote: known(view.quote, "usd"),
      chart: known(view.chart, "usd"),
    };
  }

  private sortBy(key: SortKey): void {
    const dir = this.view.sort === key && this.view.dir === "asc" ? "desc" : "asc";
    this.update({ sort: key, dir });
  }

  private update(change: Partial<ViewState>): void {
    const before = this.view;
    this.view = { ...this.view, ...change };
    history.replaceState(null, "", `${location.pathname}${toQuery(this.view, location.search)}${location.hash}`);
    saveViewState(this.view, this.storage);
    if (this.snapshot === null) return;
    this.render();
    if (before.chart !== this.view.chart || before.base !== this.view.base || before.range !== this.view.range) {
      this.els.chartCode.value = this.view.chart;
      this.rangePicker.select(this.view.range);
      void this.loadHistory();
    }
  }

  private render(): void {
    if (this.snapshot === null) return;
    const { rates } = this.snapshot.body;
    const based = rebase(rates, this.view.base);
    const base = findRate(based, this.view.base);
    if (base === undefined) return;
    this.table.render(selectRows(based, this.view), base, this.view, countByType(rates));
    this.renderHeadline(rates);
  }

  private renderHeadline(rates: readonly Rate[]): void {
    const quote = findRate(rates, this.view.quote); // values are per 1 BTC as the API sends them
    if (quote === undefined) return;
    this.els.quote.value = quote.code;
    this.els.headline.replaceChildren(
      h("span", { class: "hero-number", "data-value": String(quote.value) }, formatValue(quote.value)),
      h("span", { class: "hero-code" }, ` ${quote.code.toUpperCase()}`),
    );
    const others = HEADLINE_OTHERS.filter((code) => code !== quote.code)
      .map((code) => findRate(rates, code))
      .filter((rate) => rate !== undefined)
      .slice(0, 4);
    this.els.headlineMore.replaceChildren(
      ...others.map((rate) =>
        h("li", {}, h("span", { class: "hero-more-code" }, rate.code.toUpperCase()), formatValue(rate.value)),
      ),
    );
  }

  /** The chosen series; a new choice shows as loading until it is drawn (a refresh's reload does not). */
  private async loadHistory(): Promise<void> {
    if (this.snapshot === null) return;
    const { chart, base, range } = this.view;
    const series = `${chart}|${base}|${range}`;
    const request = ++this.historyRequest;
    const caption = `${chart.toUpperCase()} per 1 ${base.toUpperCase()}`;
    if (series !== this.shownSeries) {
      this.chart.loading();
      setText(this.els.chartNote, `Loading ${RANGE_NAMES[range].phrase} of ${caption}…`);
    }
    try {
      const history = await this.client.history(chart, base, range);
      if (request !== this.historyRequest) return; // a newer selection won
      this.shownSeries = series;
      this.chart.show(history.points, caption, range);
      setText(this.els.chartCaption, caption);
      setText(this.els.chartNote, seriesNote(history.points, history.resolution_seconds));
      this.els.chartCsv.href = historyPath(chart, base, range, "csv");
      this.els.chartCsv.download = `${chart}-per-1-${base}-${range}.csv`;
    } catch (error) {
      if (request !== this.historyRequest) return;
      const reason = error instanceof ApiError ? `History unavailable: ${error.detail}` : "History unavailable.";
      // Still the chosen series' last good points, or, for a new choice, nothing that would pass for it.
      if (series !== this.shownSeries) {
        this.shownSeries = "";
        this.chart.unavailable(reason);
      }
      setText(this.els.chartNote, reason);
    }
  }

  /** Every tick (TICK_MS): live "updated … ago" and countdown; fire the refresh when due and visible. */
  private tick(): void {
    const now = Date.now();
    if (this.snapshot !== null) {
      const age = formatAge((now - this.snapshot.fetchedAtMs) / 1000);
      setText(this.els.updated, `Updated ${age}`);
      setText(this.els.headlineSub, `1 BTC · fetched from ${this.sourceLabel()} ${age}`);
    }
    const remaining = formatCountdown(this.schedule.remainingMs(now) / 1000);
    setText(this.els.next, this.inFlight ? "updating…" : this.error ? `retry in ${remaining}` : `next in ${remaining}`);
    this.els.dot.dataset.state = this.error ? "error" : this.snapshot?.body.stale ? "stale" : this.snapshot ? "ok" : "loading";
    if (!this.inFlight && document.visibilityState === "visible" && this.schedule.isDue(now)) void this.refresh();
  }

  private sourceLabel(): string {
    return this.snapshot?.body.source === "sample" ? "the offline sample" : "CoinGecko";
  }

  /** Banners change only when the situation does, so screen readers announce each change once. */
  private renderBanners(): void {
    const banners: HTMLElement[] = [];
    const snap = this.snapshot;
    const fetchedAt = snap ? new Date(snap.body.fetched_at).toLocaleString() : "";
    if (this.error !== null) {
      const kept = snap ? ` Showing the last rates received (fetched ${fetchedAt}).` : "";
      banners.push(
        banner("error", "error", `${this.error.title}.`, `${this.error.detail}${kept} Retrying automatically.`),
      );
    }
    if (snap?.body.source === "sample") {
      banners.push(
        banner(
          "warning",
          "sample",
          "Offline sample data.",
          "The service could not reach CoinGecko, so these are recorded sample rates, not live prices.",
        ),
      );
    } else if (snap?.body.stale) {
      banners.push(
        banner(
          "warning",
          "stale",
          "Rates may be out of date.",
          `The service has not been able to refresh from CoinGecko for a while; these rates were fetched ${fetchedAt}.`,
        ),
      );
    }
    const key = banners.map((b) => b.textContent).join("|");
    if (key !== this.bannerKey) {
      this.bannerKey = key;
      this.els.banners.replaceChildren(...banners);
    }
  }
}

function banner(kind: "error" | "warning", name: string, title: string, detail: string): HTMLElement {
  return h(
    "div",
    { class: `banner banner-${kind}`, role: kind === "error" ? "alert" : "status", "data-banner": name },
    h("strong", {}, title),
    " ",
    detail,
  );
}
