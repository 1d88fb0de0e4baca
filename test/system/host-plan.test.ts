import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/shared/config.ts';
import { hostPlanFrom } from '../../src/system/host-plan.ts';

const HOSTS = 'users=10.9.0.1,rides=10.9.0.2,db=10.9.0.3';
const planOf = (env: NodeJS.ProcessEnv) => hostPlanFrom(loadConfig(env));

describe('the plan of one host across hosts', () => {
  it('is none without RIDESHARE_HOST: the single-host system, its defaults unchanged', () => {
    const config = loadConfig({});
    expect(hostPlanFrom(config)).toBeUndefined();
    expect(config.BIND_HOST).toBe('127.0.0.1');
    expect(config.UPSTREAM_CHECK_MS).toBe(0);
  });

  it('seed: users on the first host, rides on the second, the database host third; every gateway reaches every instance', () => {
    const plan = planOf({ RIDESHARE_HOST: 'rides', RIDESHARE_HOSTS: HOSTS });
    expect(plan).toMatchObject({
      placement: 'seed',
      runsUsers: false,
      runsRides: true,
      isDatabaseHost: false,
      usersUpstreams: ['http://10.9.0.1:8081'],
      ridesUpstreams: ['http://10.9.0.2:8082'],
      orchestratorUrls: ['http://10.9.0.2:8000', 'http://10.9.0.1:8000', 'http://10.9.0.3:8000'],
      databaseOrchestratorUrl: 'http://10.9.0.3:8000',
    });
    const config = loadConfig({ RIDESHARE_HOST: 'rides', RIDESHARE_HOSTS: HOSTS });
    expect(config.BIND_HOST).toBe('0.0.0.0');
    expect(config.UPSTREAM_CHECK_MS).toBe(1000);
  });

  it('ha: each service on the first two hosts; names stand for addresses when none is given', () => {
    const plan = planOf({ RIDESHARE_HOST: 'c', RIDESHARE_HOSTS: 'a,b,c=10.0.0.3', RIDESHARE_PLACEMENT: 'ha', USERS_PORT: '9081' });
    expect(plan).toMatchObject({ runsUsers: false, runsRides: false, isDatabaseHost: true, orchestratorUrls: ['http://10.0.0.3:8000', 'http://a:8000', 'http://b:8000'] });
    const onA = planOf({ RIDESHARE_HOST: 'a', RIDESHARE_HOSTS: 'a,b,c=10.0.0.3', RIDESHARE_PLACEMENT: 'ha', USERS_PORT: '9081' });
    expect(onA).toMatchObject({ runsUsers: true, runsRides: true, usersUpstreams: ['http://a:9081', 'http://b:9081'], ridesUpstreams: ['http://b:8082', 'http://a:8082'] });
  });

  it.each([
    [{ RIDESHARE_HOST: 'users' }, /RIDESHARE_HOSTS must name every host/],
    [{ RIDESHARE_HOSTS: HOSTS }, /which host is this/],
    [{ RIDESHARE_HOST: 'web', RIDESHARE_HOSTS: HOSTS }, /'web' is not one of RIDESHARE_HOSTS/],
    [{ RIDESHARE_HOST: 'users', RIDESHARE_HOSTS: 'users,rides' }, /3 hosts are needed, 2 given/],
    [{ RIDESHARE_HOST: 'users', RIDESHARE_HOSTS: 'users,users,db' }, /named twice/],
    [{ RIDESHARE_HOST: 'users', RIDESHARE_HOSTS: 'Users,rides,db' }, /not name or name=address/],
    [{ RIDESHARE_HOST: 'users', RIDESHARE_HOSTS: HOSTS, AMQP_URL: 'amqp://x' }, /AMQP_URL is decided by the host plan/],
    [{ RIDESHARE_HOST: 'users', RIDESHARE_HOSTS: HOSTS, RIDESHARE_PLACEMENT: 'spread' }, /RIDESHARE_PLACEMENT/],
    [{ RIDESHARE_HOST: 'users', RIDESHARE_HOSTS: HOSTS, ERLANG_COOKIE: 'short' }, /ERLANG_COOKIE/],
  ])('refuses %o', (env, message) => {
    expect(() => planOf(env)).toThrow(ConfigError);
    expect(() => planOf(env)).toThrow(message);
  });
});
