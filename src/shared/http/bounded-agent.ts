/**
 * undici connection pools whose every step gives up within a given time, one per time and shared.
 *
 * An AbortSignal does not end a request whose connection is still being made: against a silent
 * host (crashed, cut off: its packets dropped) the request is only rejected when the connection
 * gives up, after undici's default connect timeout of 10 s, whatever the signal said (measured:
 * 10.5 s for a request given 1 s on the global dispatcher, 1.5 s on a pool whose connect timeout is
 * 1 s). A call that must end in time passes `dispatcher: boundedAgent(timeoutMs)` with its signal.
 */
import { Agent } from 'undici';

const agents = new Map<number, Agent>();

export function boundedAgent(timeoutMs: number): Agent {
  let agent = agents.get(timeoutMs);
  if (!agent) {
    agent = new Agent({ connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    agents.set(timeoutMs, agent);
  }
  return agent;
}
