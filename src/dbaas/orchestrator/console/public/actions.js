// The action buttons: crash master, crash slave, set the desired slaves. Each asks for
// confirmation, then calls the orchestrator's API with the admin token the operator entered
// (the calls need the admin role when RIDESHARE_AUTH is on) and tells what it answered.
import { byId, clockTime, el } from './dom.js';

const FEEDBACK_KEPT = 3;
/** The token stays in this tab only (sessionStorage): never in a URL, gone when the tab closes. */
const TOKEN_KEY = 'rideshare.console.adminToken';

function adminToken() {
  return byId('admin-token').value.trim();
}

/** Calls the API; resolves to { ok, status, body } whatever the answer. */
async function call(method, path, body) {
  const init = { method, headers: { accept: 'application/json' } };
  const token = adminToken();
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  try {
    const response = await fetch(path, init);
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { ok: response.ok, status: response.status, body: parsed };
  } catch (error) {
    return { ok: false, status: 0, body: { error: `the orchestrator did not answer (${error.message})` } };
  }
}

function problem(answer) {
  if (answer.status === 401) return adminToken() ? '401: the admin token is not valid' : '401: enter the admin token first (ADMIN_TOKEN, or DATA_DIR/secrets/admin.token)';
  if (answer.status === 403) return '403: this needs the admin token, not the service token';
  const reason = typeof answer.body === 'object' && answer.body?.error ? answer.body.error : String(answer.body ?? '');
  return answer.status ? `${answer.status}: ${reason}` : reason;
}

function tell(tone, text) {
  const list = byId('feedback');
  list.prepend(el('li', { class: `note ${tone}` }, el('time', {}, clockTime(new Date().toISOString())), el('span', {}, text)));
  while (list.children.length > FEEDBACK_KEPT) list.lastElementChild.remove();
}

/** Runs one action with its button disabled meanwhile. */
async function run(button, action) {
  button.disabled = true;
  try {
    await action();
  } finally {
    button.disabled = false;
  }
}

export function setUpActions(currentStatus) {
  const crashMaster = byId('crash-master');
  const crashSlave = byId('crash-slave');
  const form = byId('slaves-form');
  const input = byId('slave-count');
  const token = byId('admin-token');
  token.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  token.addEventListener('input', () => {
    if (adminToken()) sessionStorage.setItem(TOKEN_KEY, adminToken());
    else sessionStorage.removeItem(TOKEN_KEY);
  });

  crashMaster.addEventListener('click', () => {
    const master = currentStatus()?.master;
    const who = master ? `the master (pid ${master.pid})` : 'the master';
    if (!window.confirm(`Crash ${who}?\n\nIts process is killed outright. The ready slave with the lowest pid takes over and a new slave is started.`)) return;
    void run(crashMaster, async () => {
      const answer = await call('POST', '/api/v1/crash/master');
      if (answer.ok) tell('ok', `Master pid ${answer.body[0]} killed: the failover shows in the timeline.`);
      else tell('error', `Crash master refused — ${problem(answer)}`);
    });
  });

  crashSlave.addEventListener('click', () => {
    if (!window.confirm('Crash the slave with the highest pid?\n\nIts process is killed outright and a replacement is started.')) return;
    void run(crashSlave, async () => {
      const answer = await call('POST', '/api/v1/crash/slave');
      if (answer.ok) tell('ok', `Slave pid ${answer.body[0]} killed: a replacement is starting.`);
      else tell('error', `Crash slave refused — ${problem(answer)}`);
    });
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const slaves = Number(input.value);
    const scaling = currentStatus()?.scaling;
    const later = scaling?.enabled ? '\n\nAuto-scaling is on: the autoscaler decides again at the end of its current window.' : '';
    if (!window.confirm(`Set the desired number of slaves to ${slaves}?${later}`)) return;
    void run(byId('set-slaves'), async () => {
      const answer = await call('PUT', '/api/v1/scaling/slaves', { slaves });
      if (answer.ok) tell('ok', `Desired slaves ${answer.body.previous} → ${answer.body.desiredSlaves}.`);
      else tell('error', `Setting the slaves refused — ${problem(answer)}`);
      input.dataset.edited = '';
    });
  });
  // While the operator types, status updates do not overwrite the field.
  input.addEventListener('input', () => (input.dataset.edited = '1'));
}

/** Keeps the controls in step with the cluster: bounds, the current count, who can act. */
export function renderActions(status) {
  const input = byId('slave-count');
  input.max = String(status.scaling.maxSlaves);
  if (input.dataset.edited !== '1' && document.activeElement !== input) input.value = String(status.slaves.desired);
  byId('crash-master').disabled = !status.master;
  byId('crash-slave').disabled = !status.workers.some((worker) => worker.role === 'slave');
  const self = status.orchestrators.find((orchestrator) => orchestrator.self);
  const supervisor = status.orchestrators.find((orchestrator) => orchestrator.supervising);
  byId('actions-hint').textContent =
    self && !self.supervising
      ? `This orchestrator stands by: it passes the actions to the supervising one (pid ${supervisor?.pid ?? 'unknown'}).`
      : status.scaling.enabled
        ? 'Auto-scaling is on: a count set by hand holds until the end of the current window.'
        : 'Auto-scaling is off: a count set by hand holds.';
}
