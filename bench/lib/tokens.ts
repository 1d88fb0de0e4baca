/** The bearer tokens benchmark systems run with: fixed, since the systems live only for the run. */
export const BENCH_TOKENS = { service: 'bench-service-token-not-a-secret', admin: 'bench-admin-token-not-a-secret' } as const;
