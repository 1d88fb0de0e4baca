// Small DOM and formatting helpers. Text from the server is only ever set as text, never as HTML.

/** el('div', { class: 'card', dataset: { pid: 7 } }, 'text', child) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') for (const [name, item] of Object.entries(value)) node.dataset[name] = String(item);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const byId = (id) => document.getElementById(id);

const number = new Intl.NumberFormat('en');
export const formatNumber = (value) => (value === null || value === undefined ? '–' : number.format(value));

/** 14:03:07 in the browser's time zone, from an ISO text or milliseconds. */
export function clockTime(time) {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? '–' : date.toLocaleTimeString('en-GB', { hour12: false });
}

export function elapsed(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
  return `${Math.floor(hours / 24)} d`;
}

export function ago(iso, now = Date.now()) {
  const ms = now - Date.parse(iso);
  return Number.isNaN(ms) ? '' : ms < 1500 ? 'just now' : `${elapsed(ms)} ago`;
}

export const plural = (count, word) => `${formatNumber(count)} ${word}${count === 1 ? '' : 's'}`;
