// The two charts (uPlot, served from the installed npm package): the autoscaler's decisions
// (reads counted in each window, and the slaves it asked for) and the live read rate.
import { byId, clockTime, elapsed, formatNumber } from './dom.js';

const COLORS = {
  reads: '#58a6ff',
  readsFill: 'rgba(88, 166, 255, 0.35)',
  slaves: '#3fb950',
  desired: '#d29922',
  axis: '#8b949e',
  grid: 'rgba(139, 148, 158, 0.14)',
};
const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const HEIGHT = 210;
/** The live chart keeps this much history, and computes the rate over this much of it. */
const LIVE_SPAN_MS = 5 * 60_000;
/** The live chart's time axis spans at least this much, so a new page shows a calm empty minute. */
const LIVE_MIN_SPAN_MS = 60_000;
const RATE_WINDOW_MS = 3000;

function axis(extra = {}) {
  return {
    stroke: COLORS.axis,
    font: FONT,
    labelFont: FONT,
    grid: { stroke: COLORS.grid, width: 1 },
    ticks: { stroke: COLORS.grid, width: 1, size: 4 },
    ...extra,
  };
}

/** The time axis in the browser's 24-hour clock, like the timeline. */
const timeAxis = () => axis({ space: 76, values: (_plot, splits) => splits.map((seconds) => clockTime(seconds * 1000)) });

/** Whole numbers only on a count axis. */
const integerTicks = (_plot, splits) => splits.map((value) => (Number.isInteger(value) ? formatNumber(value) : ''));

/** A uPlot chart that follows its container's width. */
function makePlot(container, options, data) {
  const plot = new window.uPlot({ ...options, width: Math.max(200, container.clientWidth), height: HEIGHT }, data, container);
  new ResizeObserver(() => plot.setSize({ width: Math.max(200, container.clientWidth), height: HEIGHT })).observe(container);
  return plot;
}

/** The autoscaler's decisions; a standby orchestrator has none of its own, so the history's are used. */
function decisionsOf(status) {
  const own = status.scaling.decisions ?? [];
  if (own.length) {
    return own.map((d) => ({ start: Date.parse(d.windowStart), end: Date.parse(d.windowEnd), reads: d.reads, before: d.slavesBefore, after: d.slavesAfter }));
  }
  const windowMs = status.scaling.windowMs ?? 0;
  return status.events
    .filter((event) => event.kind === 'scaling')
    .map((event) => ({ start: Date.parse(event.at) - windowMs, end: Date.parse(event.at), reads: event.reads, before: event.slavesBefore, after: event.slavesAfter }));
}

export class DecisionsChart {
  constructor() {
    this.container = byId('decisions-chart');
    this.plot = undefined;
  }

  update(status, now = Date.now()) {
    const rows = decisionsOf(status);
    renderScalingSummary(status.scaling, now);
    const empty = byId('decisions-empty');
    this.container.hidden = rows.length === 0;
    empty.hidden = rows.length > 0;
    if (rows.length === 0) {
      empty.textContent = emptyText(status.scaling);
      return;
    }
    // Reads as a bar in the middle of their window; slaves as a step at each window's end, up to now.
    const points = [{ x: rows[0].start, reads: null, slaves: rows[0].before }];
    for (const row of rows) {
      points.push({ x: (row.start + row.end) / 2, reads: row.reads, slaves: null });
      points.push({ x: row.end, reads: null, slaves: row.after });
    }
    points.push({ x: Math.max(now, rows[rows.length - 1].end), reads: null, slaves: status.slaves.desired });
    // undefined, not null: no point there (bars are as wide as the windows, the step line joins).
    const data = [points.map((p) => p.x / 1000), points.map((p) => p.reads ?? undefined), points.map((p) => p.slaves ?? undefined)];
    if (this.plot) this.plot.setData(data);
    else this.plot = makePlot(this.container, decisionOptions(), data);
  }
}

function decisionOptions() {
  return {
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: false },
    scales: {
      x: { time: true },
      reads: { range: (_plot, _min, max) => [0, Math.max(10, Math.ceil((max ?? 0) * 1.15))] },
      slaves: { range: (_plot, _min, max) => [0, Math.max(3, (max ?? 0) + 1)] },
    },
    axes: [
      timeAxis(),
      axis({ scale: 'reads', label: 'reads per window', labelSize: 20, size: 52, values: integerTicks }),
      axis({ scale: 'slaves', side: 1, label: 'slaves', labelSize: 20, size: 40, grid: { show: false }, values: integerTicks }),
    ],
    series: [
      { label: 'time' },
      {
        label: 'reads in the window',
        scale: 'reads',
        stroke: COLORS.reads,
        fill: COLORS.readsFill,
        width: 1,
        paths: window.uPlot.paths.bars({ size: [0.62, 64] }),
        points: { show: false },
        value: (_plot, value) => (value == null ? '–' : formatNumber(value)),
      },
      {
        label: 'slaves asked for',
        scale: 'slaves',
        stroke: COLORS.slaves,
        width: 2.5,
        paths: window.uPlot.paths.stepped({ align: 1 }),
        points: { show: true, size: 7, fill: COLORS.slaves, stroke: COLORS.slaves },
        value: (_plot, value) => (value == null ? '–' : String(value)),
      },
    ],
  };
}

function renderScalingSummary(scaling, now) {
  const parts = [];
  if (!scaling.enabled) parts.push('auto-scaling off', `at most ${scaling.maxSlaves} slaves`);
  else {
    parts.push(`window ${elapsed(scaling.windowMs)}`, `${scaling.readsPerSlave} reads per slave`, `max ${scaling.maxSlaves}`);
    const started = Date.parse(scaling.clockStartedAt ?? '');
    if (!Number.isNaN(started)) {
      const next = started + Math.ceil((now - started + 1) / scaling.windowMs) * scaling.windowMs;
      parts.push(`next decision in ${elapsed(next - now)}`);
    }
  }
  byId('scaling-summary').textContent = parts.join(' · ');
}

function emptyText(scaling) {
  if (!scaling.enabled) return 'Auto-scaling is off for this cluster: the slave count changes only when set by hand.';
  if (!scaling.clockStartedAt)
    return `No decision yet. The clock starts at the first db/read; at the end of each ${elapsed(scaling.windowMs)} window the slaves become max(1, ⌈reads / ${scaling.readsPerSlave}⌉), at most ${scaling.maxSlaves}.`;
  return 'The first window has not ended yet.';
}

export class LiveChart {
  constructor() {
    this.container = byId('live-chart');
    this.samples = [];
    this.plot = undefined;
    this.now = Date.now();
  }

  /** A status arrived: its read total, and the slaves ready and desired at that moment. */
  record(status, at = Date.now()) {
    this.samples.push({ t: at, total: status.reads.total, ready: status.slaves.ready, desired: status.slaves.desired });
    this.draw(at);
  }

  /** No status for a second while connected means nothing changed: no reads either. */
  tick(now = Date.now()) {
    const last = this.samples[this.samples.length - 1];
    if (last && now - last.t >= 1000) this.samples.push({ ...last, t: now });
    this.draw(now);
  }

  draw(now) {
    this.now = now;
    while (this.samples.length > 2 && this.samples[0].t < now - LIVE_SPAN_MS) this.samples.shift();
    const rates = this.samples.map((_sample, index) => this.rateAt(index));
    const current = rates[rates.length - 1] ?? null;
    const total = this.samples[this.samples.length - 1]?.total;
    byId('live-summary').textContent = `${current === null ? '–' : formatRate(current)} reads/s now · ${formatNumber(total)} counted so far`;
    const data = [this.samples.map((s) => s.t / 1000), rates, this.samples.map((s) => s.ready), this.samples.map((s) => s.desired)];
    if (this.plot) this.plot.setData(data);
    else
      this.plot = makePlot(
        this.container,
        liveOptions(() => this.span()),
        data,
      );
  }

  /** From the oldest sample (or a minute ago, if later) to now, in seconds. */
  span() {
    const oldest = this.samples[0]?.t ?? this.now;
    return [Math.min(oldest, this.now - LIVE_MIN_SPAN_MS) / 1000, this.now / 1000];
  }

  /** Reads per second over the last few seconds before sample `index`. */
  rateAt(index) {
    const sample = this.samples[index];
    let from = index;
    while (from > 0 && sample.t - this.samples[from - 1].t <= RATE_WINDOW_MS) from -= 1;
    if (from === index) from = index - 1;
    const earlier = this.samples[from];
    if (!earlier || sample.t <= earlier.t) return null;
    return Math.max(0, (sample.total - earlier.total) / ((sample.t - earlier.t) / 1000));
  }
}

function liveOptions(span) {
  return {
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    legend: { live: false },
    scales: {
      x: { time: true, range: () => span() },
      rate: { range: (_plot, _min, max) => [0, Math.max(5, Math.ceil((max ?? 0) * 1.2))] },
      slaves: { range: (_plot, _min, max) => [0, Math.max(3, (max ?? 0) + 1)] },
    },
    axes: [
      timeAxis(),
      axis({ scale: 'rate', label: 'reads / s', labelSize: 20, size: 52 }),
      axis({ scale: 'slaves', side: 1, label: 'slaves', labelSize: 20, size: 40, grid: { show: false }, values: integerTicks }),
    ],
    series: [
      { label: 'time' },
      { label: 'reads/s', scale: 'rate', stroke: COLORS.reads, fill: COLORS.readsFill, width: 2, points: { show: false }, value: (_p, v) => (v === null ? '–' : formatRate(v)) },
      { label: 'ready slaves', scale: 'slaves', stroke: COLORS.slaves, width: 2, paths: window.uPlot.paths.stepped({ align: 1 }), points: { show: false } },
      { label: 'desired slaves', scale: 'slaves', stroke: COLORS.desired, width: 1.5, dash: [6, 4], paths: window.uPlot.paths.stepped({ align: 1 }), points: { show: false } },
    ],
  };
}

function formatRate(value) {
  return value >= 100 ? formatNumber(Math.round(value)) : value.toFixed(1);
}
