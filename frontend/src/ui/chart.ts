// The history chart (uPlot: small, fast, canvas). Sized to its container and redrawn with the
// theme's colours when the colour scheme changes.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatValue } from "../lib/format";
import { RANGE_NAMES, timeAxis, type HistoryRange } from "../lib/history-range";
import { h } from "./dom";

export interface ChartPoint {
  t: string;
  value: number;
}

const HEIGHT = 220;
const TIME_LABEL_SPACE = 72; // CSS pixels per time label ("Dec 2026" in 12 px text and a gap)

/** Axis ticks: whole numbers once they are large, so 41,800 does not read 41,800.00. */
function formatTick(value: number): string {
  return Math.abs(value) >= 1000 ? Math.round(value).toLocaleString() : formatValue(value);
}

function cssVar(el: Element, name: string, fallback: string): string {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

export class HistoryChart {
  private plot: uPlot | null = null;
  private data: uPlot.AlignedData = [[], []];
  private label = "";
  private range: HistoryRange = "24h";
  /** The time labels of the last ticks uPlot asked for (see the x axis). */
  private timeLabels = new Map<number, string>();

  constructor(private readonly container: HTMLElement) {
    new ResizeObserver(() => {
      this.plot?.setSize({ width: this.width(), height: HEIGHT });
    }).observe(container);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (this.plot !== null) this.rebuild();
    });
  }

  /** While a series is on its way: what is drawn stays, marked busy, until it arrives. */
  loading(): void {
    this.container.setAttribute("aria-busy", "true");
  }

  /** No series to draw: `reason` in place of the chart. */
  unavailable(reason: string): void {
    this.container.removeAttribute("aria-busy");
    this.plot?.destroy();
    this.plot = null;
    delete this.container.dataset.points;
    this.container.replaceChildren(h("p", { class: "chart-empty" }, reason));
    this.container.setAttribute("aria-label", reason);
  }

  show(points: readonly ChartPoint[], label: string, range: HistoryRange): void {
    this.container.removeAttribute("aria-busy");
    this.container.dataset.points = String(points.length);
    this.container.dataset.range = range;
    const phrase = RANGE_NAMES[range].phrase;
    if (points.length === 0) {
      this.plot?.destroy();
      this.plot = null;
      this.container.replaceChildren(
        h(
          "p",
          { class: "chart-empty" },
          `No history recorded in ${phrase} yet: the service adds a point at every successful refresh from CoinGecko.`,
        ),
      );
      this.container.setAttribute("aria-label", `No history of ${label} in ${phrase} yet`);
      return;
    }
    this.data = [points.map((p) => Date.parse(p.t) / 1000), points.map((p) => p.value)];
    if (this.plot !== null && label === this.label && range === this.range) {
      this.plot.setData(this.data);
    } else {
      this.label = label;
      this.range = range;
      this.rebuild();
    }
    this.container.setAttribute("aria-label", `History of ${label} over ${phrase}, ${points.length} points`);
  }

  private width(): number {
    return Math.max(240, Math.floor(this.container.clientWidth));
  }

  private rebuild(): void {
    this.plot?.destroy();
    this.container.replaceChildren();
    const stroke = cssVar(this.container, "--accent", "#2563eb");
    const grid = cssVar(this.container, "--border", "#e3e6ea");
    const text = cssVar(this.container, "--muted", "#5b6470");
    const axis: uPlot.Axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const few = this.data[0].length < 3;
    this.plot = new uPlot(
      {
        width: this.width(),
        height: HEIGHT,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true },
        scales: {
          // One point has no span, and uPlot would stretch it over years: give it ten minutes.
          x: {
            time: true,
            range: (u, min, max) => {
              const times = u.data[0];
              const only = times.length === 1 ? times[0] : undefined;
              return only === undefined ? [min, max] : [only - 300, only + 300];
            },
          },
          // Around the data, not from zero: rate moves are small relative to the rate.
          y: {
            range: (_u, min, max) => {
              const pad = (max - min) * 0.1 || Math.abs(max) * 0.005 || 1;
              return [min - pad, max + pad];
            },
          },
        },
        series: [
          { label: "Time" },
          {
            label: this.label,
            stroke,
            width: 2,
            fill: `${stroke}22`,
            points: { show: few, size: 7 },
            value: (_u, v) => formatValue(v),
          },
        ],
        axes: [
          // Labels that fit the range (hours, days, months), as many as the width has room for.
          {
            ...axis,
            splits: (u, _axis, min, max) => {
              const room = (u.bbox.width / uPlot.pxRatio || u.width) / TIME_LABEL_SPACE;
              const { ticks, labels } = timeAxis(this.range, min, max, room);
              this.timeLabels = new Map(ticks.map((t, i) => [t, labels[i] ?? ""]));
              // The canvas hides its text from the end-to-end tests; they read the labels here.
              this.container.dataset.timeLabels = labels.join("|");
              return ticks;
            },
            values: (_u, splits) => splits.map((t) => this.timeLabels.get(t) ?? ""),
          },
          {
            ...axis,
            // uPlot passes null before the first layout pass, whatever its types say.
            size: (_u, values: string[] | null) => 16 + 7 * Math.max(4, ...(values ?? []).map((v) => v.length)),
            values: (_u, splits) => splits.map(formatTick),
          },
        ],
      },
      this.data,
      this.container,
    );
  }
}
