import { describe, expect, it } from 'vitest';
import { RequestCounter } from '../../src/services/http/request-counter.ts';

describe('the _count prefix rule', () => {
  it('counts the prefix and everything below it, query strings included', () => {
    const counter = new RequestCounter('/api/v1/rides');
    for (const url of ['/api/v1/rides', '/api/v1/rides?source=1&destination=2', '/api/v1/rides/count', '/api/v1/rides/7/nothing']) counter.observe(url);
    expect(counter.value).toBe(4);
  });

  it('ignores _count, db/clear, health checks and look-alike paths', () => {
    const counter = new RequestCounter('/api/v1/users');
    for (const url of ['/api/v1/_count', '/api/v1/db/clear', '/health', '/api/v1/usersX', '/api/v1/rides']) counter.observe(url);
    expect(counter.value).toBe(0);
  });

  it('resets to zero', () => {
    const counter = new RequestCounter('/api/v1/users');
    counter.observe('/api/v1/users');
    counter.reset();
    expect(counter.value).toBe(0);
  });
});
