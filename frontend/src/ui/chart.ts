// The history chart (uPlot: small, fast, canvas). Sized to its container and redrawn with the
// theme's colours when the colour scheme changes.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatValue } from "../lib/format";
import { h } from "./dom";

export interface ChartPoint {
  t: string;
  value: number;
}

const HEIGHT = 220;
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

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

  constructor(private readonly container: HTMLElement) {
    new ResizeObserver(() => {
      this.plot?.setSize({ width: this.width(), height: HEIGHT });
    }).observe(container);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (this.plot !== null) this.rebuild();
    });
  }

  show(points: readonly ChartPoint[], label: string): void {
    this.container.dataset.points = String(points.length);
    if (points.length === 0) {
      this.plot?.destroy();
      this.plot = null;
      this.container.replaceChildren(
        h("p", { class: "chart-empty" }, "No history recorded yet: the service adds a point at every successful refresh from CoinGecko."),
      );
      this.container.setAttribute("aria-label", `No history of ${label} yet`);
      return;
    }
    this.data = [points.map((p) => Date.parse(p.t) / 1000), points.map((p) => p.value)];
    if (this.plot !== null && label === this.label) {
      this.plot.setData(this.data);
    } else {
      this.label = label;
      this.rebuild();
    }
    this.container.setAttribute("aria-label", `History of ${label}, ${points.length} points`);
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
          // Whole seconds at the finest: test setups refresh every second or two.
          { ...axis, incrs: TIME_STEPS },
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
