/**
 * A bed must not outlive the process that made it: on a normal exit, SIGINT or SIGTERM the owner
 * tears it down synchronously (teardown.ts). A SIGKILLed owner cannot, which is what the state
 * file and `npm run hosts -- down` are for (and the next `up` of the same bed cleans it first).
 */
import { tearDown } from './teardown.ts';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Registers the teardown; the function returned unregisters it (after a clean `down()`). */
export function tearDownWhenOwnerStops(bed: string, stateDir: string): () => void {
  let done = false;
  const onExit = () => {
    if (done) return;
    done = true;
    tearDown(bed, stateDir);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    onExit();
    unregister();
    // Die of the signal as if no one had listened, unless someone else handles it.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const unregister = () => {
    process.off('exit', onExit);
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  };
  process.on('exit', onExit);
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return () => {
    done = true;
    unregister();
  };
}
