// The topology panel: orchestrators, the master, and the slaves it replicates to (joining ones dimmed).
import { byId, el, elapsed, formatNumber } from './dom.js';

/** Workers drawn before: a card seen for the first time fades in. */
const seen = new Set();

export function renderTopology(status, now = Date.now()) {
  renderSummary(status);
  byId('orchestrators').replaceChildren(...status.orchestrators.map(orchestratorChip));
  const masters = status.workers.filter((worker) => worker.role === 'master');
  const slaves = status.workers.filter((worker) => worker.role === 'slave');
  const card = (worker) => workerCard(worker, now);
  byId('workers').replaceChildren(
    el('div', { class: 'tier tier-master' }, masters.length ? masters.map(card) : placeholder('No master: a failover is in progress')),
    el('div', { class: 'fanout', 'aria-hidden': 'true' }, el('span', {}, 'writes replicate over syncQ')),
    el('div', { class: 'tier tier-slaves' }, slaves.length ? slaves.map(card) : placeholder('No slave is running')),
  );
  for (const worker of status.workers) seen.add(worker.workerId);
}

function renderSummary(status) {
  const { desired, ready, joining } = status.slaves;
  const parts = [`${ready} of ${desired} slaves ready`];
  if (joining) parts.push(`${joining} joining`);
  if (status.master) parts.push(`epoch ${status.master.epoch}`, `seq ${formatNumber(status.master.appliedSeq)}`);
  byId('summary').textContent = parts.join(' · ');
}

function orchestratorChip(orchestrator) {
  const role = orchestrator.supervising ? 'supervising' : 'standby';
  return el(
    'div',
    { class: `orchestrator ${role}${orchestrator.self ? ' self' : ''}`, title: `${orchestrator.orchestratorId} at ${orchestrator.url}` },
    el('span', { class: 'kind' }, 'orchestrator'),
    el('strong', {}, `pid ${orchestrator.pid}`),
    el('span', { class: 'tag' }, role),
    orchestrator.self ? el('span', { class: 'tag self' }, 'this page') : null,
  );
}

function workerCard(worker, now) {
  const joining = worker.state === 'joining';
  const classes = ['worker', worker.role, joining ? 'joining' : 'serving', seen.has(worker.workerId) ? '' : 'appeared'];
  return el(
    'article',
    {
      class: classes.filter(Boolean).join(' '),
      dataset: { workerId: worker.workerId, role: worker.role, pid: worker.pid, state: worker.state },
      'aria-label': `${worker.role} pid ${worker.pid}, ${worker.state}`,
    },
    el('header', {}, el('span', { class: 'role' }, worker.role), el('span', { class: 'state' }, joining ? 'joining' : 'serving')),
    el('div', { class: 'pid' }, el('span', {}, 'pid'), el('strong', {}, worker.pid)),
    el(
      'dl',
      { class: 'stats' },
      stat('epoch', worker.epoch),
      stat('applied seq', formatNumber(worker.appliedSeq)),
      stat('lag', worker.lag === null ? '–' : formatNumber(worker.lag), lagClass(worker.lag)),
    ),
    el('footer', {}, el('span', { class: 'id' }, worker.workerId), worker.startedAt ? el('span', {}, `up ${elapsed(now - Date.parse(worker.startedAt))}`) : null),
  );
}

function stat(label, value, className) {
  return el('div', {}, el('dt', {}, label), el('dd', { class: className }, value));
}

function lagClass(lag) {
  if (lag === null) return 'lag-unknown';
  return lag === 0 ? 'lag-ok' : lag < 100 ? 'lag-warn' : 'lag-bad';
}

function placeholder(text) {
  return el('div', { class: 'worker placeholder' }, text);
}
