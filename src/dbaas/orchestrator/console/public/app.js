// The operator console: follows GET /api/v1/cluster/stream (server-sent events) and draws the
// cluster from each status it pushes. EventSource reconnects by itself after a network error;
// after a refusal (an HTTP error), this page tries again a little later.
import { setUpActions, renderActions } from './actions.js';
import { DecisionsChart, LiveChart } from './charts.js';
import { byId, clockTime } from './dom.js';
import { renderTimeline } from './timeline.js';
import { renderTopology } from './topology.js';

const STREAM_URL = '/api/v1/cluster/stream';
const RETRY_AFTER_REFUSAL_MS = 3000;

let status;
let connected = false;
const decisions = new DecisionsChart();
const live = new LiveChart();

function setConnection(state, text) {
  const badge = byId('connection');
  badge.dataset.state = state;
  badge.querySelector('.label').textContent = text;
}

function render(now = Date.now()) {
  if (!status) return;
  byId('cluster').textContent = status.cluster;
  document.title = `${status.cluster} · RideShare console`;
  renderTopology(status, now);
  renderActions(status);
  renderTimeline(status.events, now);
  decisions.update(status, now);
}

function connect() {
  setConnection('connecting', 'connecting…');
  const source = new EventSource(STREAM_URL);
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener('status', (event) => {
    status = JSON.parse(event.data);
    connected = true;
    setConnection('live', `live · updated ${clockTime(status.at)}`);
    live.record(status);
    render();
  });
  source.addEventListener('problem', (event) => {
    const { error } = JSON.parse(event.data);
    setConnection('problem', `cluster status unavailable: ${error}`);
  });
  source.addEventListener('error', () => {
    connected = false;
    if (source.readyState === EventSource.CLOSED) {
      setConnection('offline', 'disconnected · retrying');
      setTimeout(connect, RETRY_AFTER_REFUSAL_MS);
    } else {
      setConnection('offline', 'reconnecting…');
    }
  });
}

setUpActions(() => status);
connect();
// Ages, uptimes and the live chart move on between pushes.
setInterval(() => {
  const now = Date.now();
  if (connected) live.tick(now);
  render(now);
}, 1000);
