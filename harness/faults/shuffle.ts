import type { Random } from '../chaos/prng.ts';

/** A seeded Fisher–Yates shuffle: fault orders and kill orders replay from the seed. */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = random.int(0, i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
