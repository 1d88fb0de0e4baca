// The timeline: supervision events from the cluster's history, newest first.
import { ago, byId, clockTime, el, formatNumber } from './dom.js';

const START_REASONS = {
  initial: 'initial start',
  replacement: 'replaces a dead worker',
  'scale-out': 'scale-out',
  'restart-from-files': 'restarted from its SQLite file',
};

const EXIT_REASONS = {
  'crash-api': 'killed by a crash call',
  crashed: 'crashed',
  'session-lost': 'ZooKeeper session lost',
  'failed-promotion': 'promotion failed',
  'not-ready': 'never became ready',
  stale: 'stale worker',
  retired: 'retired (scale-in)',
  'restart-from-files': 'replaced by a restart from files',
};

/** Title, detail and colour of one event. */
function describe(event) {
  switch (event.kind) {
    case 'failover':
      return { tone: 'alert', label: 'failover', title: `pid ${event.pid} is the new master · epoch ${event.epoch}`, detail: `${event.reason} · took ${formatNumber(event.durationMs)} ms` };
    case 'worker-exited': {
      const how = [EXIT_REASONS[event.reason] ?? event.reason, event.signal ?? (event.code === null ? null : `exit code ${event.code}`)];
      return { tone: event.reason === 'retired' ? 'quiet' : 'bad', label: 'exit', title: `worker pid ${event.pid} exited`, detail: how.filter(Boolean).join(' · ') };
    }
    case 'worker-started':
      return { tone: 'good', label: 'start', title: `${event.role} pid ${event.pid} started`, detail: START_REASONS[event.reason] ?? event.reason };
    case 'scaling': {
      const change = event.slavesAfter === event.slavesBefore ? `stay at ${event.slavesAfter}` : `${event.slavesBefore} → ${event.slavesAfter}`;
      return { tone: 'info', label: 'autoscaler', title: `slaves ${change}`, detail: event.reason };
    }
    case 'slaves-set':
      return { tone: 'info', label: 'operator', title: `desired slaves set ${event.slavesBefore} → ${event.slavesAfter}`, detail: `by an operator (orchestrator ${event.orchestratorId})` };
    case 'supervision':
      return { tone: 'meta', label: 'supervisor', title: `orchestrator ${event.orchestratorId} supervises`, detail: event.takeover ? 'took over from the previous supervisor' : 'started the cluster' };
    default:
      return { tone: 'meta', label: event.kind, title: event.kind, detail: '' };
  }
}

const holds = (event) => event.kind === 'scaling' && event.slavesAfter === event.slavesBefore;

/**
 * Newest first; windows in a row in which the autoscaler kept the same count are one entry, so a
 * steady cluster's timeline still shows its failovers and replacements.
 */
function entries(events) {
  const list = [];
  for (const event of [...events].reverse()) {
    const last = list[list.length - 1];
    if (last && holds(event) && holds(last.event) && last.event.slavesAfter === event.slavesAfter) last.repeats += 1;
    else list.push({ event, repeats: 1 });
  }
  return list;
}

export function renderTimeline(events, now = Date.now()) {
  const items = entries(events).map(({ event, repeats }) => {
    const { tone, label, title, detail } = describe(event);
    const times = repeats > 1 ? ` · ${repeats} windows in a row` : '';
    return el(
      'li',
      { class: `event tone-${tone}`, dataset: { kind: event.kind } },
      el('time', { datetime: event.at, title: event.at }, clockTime(event.at), el('small', {}, ago(event.at, now))),
      el('span', { class: 'badge' }, label),
      el('div', { class: 'what' }, el('div', { class: 'title' }, title + times), detail ? el('div', { class: 'detail' }, detail) : null),
    );
  });
  byId('timeline').replaceChildren(...(items.length ? items : [el('li', { class: 'empty' }, 'Nothing has happened yet.')]));
}
