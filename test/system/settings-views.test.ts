/**
 * One parse of the environment, and each process's typed view of it: every value a process gets
 * is the configuration's (defaults included), the cluster's secrets reach the orchestrator and
 * its workers from the cluster's settings alone, and a process that cannot run without a
 * setting is refused at start-up with a message that names it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { orchestratorSettingsFrom } from '../../src/dbaas/orchestrator/settings.ts';
import { clusterSettingsFrom } from '../../src/dbaas/settings/ClusterSettings.ts';
import { decodeWorkerSettings, encodeWorkerSettings } from '../../src/dbaas/worker/WorkerSettings.ts';
import { gatewaySettingsFrom, GATEWAY_UPSTREAM_TIMEOUT_MS } from '../../src/services/gateway/settings.ts';
import { ridesSettingsFrom } from '../../src/services/rides/settings.ts';
import { usersSettingsFrom } from '../../src/services/users/settings.ts';
import { childEnvironment } from '../../src/shared/child-environment.ts';
import { ConfigError, DEFAULT_WORKER_IMAGE, loadConfig, SETTING_NAMES, type Config } from '../../src/shared/config.ts';
import { SECRET_SETTINGS } from '../../src/shared/secret-settings.ts';
import { GATEWAY_SETTINGS, ORCHESTRATOR_SETTINGS, RIDES_SETTINGS, USERS_SETTINGS } from '../../src/system/settings-of-processes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SERVERS = { AMQP_URL: 'amqp://u:p@127.0.0.1:5672/v', ZK_CONNECT: '127.0.0.1:2181' };
const SECRETS = {
  CLUSTER_KEY: 'k'.repeat(32),
  ZK_AUTH: 'operator:zk-password-1',
  SERVICE_TOKEN: 's'.repeat(32),
  ADMIN_TOKEN: 'a'.repeat(32),
  RABBITMQ_PASSWORD: 'r'.repeat(32),
  ERLANG_COOKIE: 'C'.repeat(32),
};

describe('settings: one parse, a typed view per process', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-settings-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const env = (more: Record<string, string> = {}) => ({ DATA_DIR: work, ...SERVERS, ...SECRETS, ...more });

  it('gives the orchestrator its cluster, its timeouts and its runtime from the configuration, defaults included', () => {
    const settings = orchestratorSettingsFrom(loadConfig(env({ RIDESHARE_CLUSTER: 'blue', RPC_TIMEOUT_MS: '1234', WORKER_RUNTIME: 'docker' })));
    expect(settings.orchestrator).toMatchObject({
      cluster: 'blue',
      amqpUrl: SERVERS.AMQP_URL,
      zkConnect: SERVERS.ZK_CONNECT,
      clusterKey: SECRETS.CLUSTER_KEY,
      zkAuth: { user: 'operator', password: 'zk-password-1' },
      port: 8000,
      rpcTimeoutMs: 1234,
      readHedgeMs: 1000,
      sessionTimeoutMs: 4000,
      scaling: { windowMs: 120_000, readsPerSlave: 20, maxSlaves: 8 },
      workerTuning: { zkSessionTimeoutMs: 4000, readWaitMs: 2000, snapshotTimeoutMs: 30_000, durability: 'process', logLevel: 'info' },
      auth: { enabled: true, tokens: { service: SECRETS.SERVICE_TOKEN, admin: SECRETS.ADMIN_TOKEN } },
    });
    expect(settings.runtime).toEqual({ kind: 'docker', options: { cluster: 'blue', dataDir: work, logDir: path.join(work, 'logs'), image: DEFAULT_WORKER_IMAGE } });
  });

  it('keeps the cluster key and the ZooKeeper credentials out of the workers\u2019 tuning', () => {
    const { orchestrator } = orchestratorSettingsFrom(loadConfig(env()));
    expect(Object.keys(orchestrator.workerTuning).sort()).toEqual(['durability', 'logLevel', 'readWaitMs', 'snapshotTimeoutMs', 'zkSessionTimeoutMs']);
  });

  it('hands a worker its cluster\u2019s settings and tuning in one document that reads back the same', () => {
    const { orchestrator } = orchestratorSettingsFrom(loadConfig(env()));
    const settings = { ...clusterSettingsFrom(loadConfig(env())), ...orchestrator.workerTuning, workerId: 'm-1', role: 'master' as const, dbFile: path.join(work, 'm-1.db') };
    expect(decodeWorkerSettings(encodeWorkerSettings(settings))).toEqual(settings);
  });

  it('refuses a database service process without its servers, naming the settings', () => {
    for (const missing of ['AMQP_URL', 'ZK_CONNECT']) {
      const config = loadConfig({ ...env(), [missing]: '' });
      expect(() => orchestratorSettingsFrom(config)).toThrow(ConfigError);
      expect(() => clusterSettingsFrom(config)).toThrow(/AMQP_URL and ZK_CONNECT must be set/);
    }
  });

  it('gives the services HTTP_TIMEOUT_MS and the service token, and the gateway no token at all', () => {
    const config = loadConfig(env({ HTTP_TIMEOUT_MS: '4321', ORCHESTRATOR_URL: 'http://a:1,http://b:2' }));
    const users = usersSettingsFrom(config);
    const rides = ridesSettingsFrom(config);
    expect(users.db).toEqual({ urls: ['http://a:1', 'http://b:2'], timeoutMs: 4321, token: SECRETS.SERVICE_TOKEN });
    expect(rides.db).toEqual(users.db);
    expect(rides.httpTimeoutMs).toBe(4321);
    expect(rides).toMatchObject({ port: 8082, gatewayUrl: 'http://127.0.0.1:8080', publicHost: 'http://127.0.0.1:8082' });
    const gateway = gatewaySettingsFrom(config);
    expect(gateway).toMatchObject({ port: 8080, usersUpstreams: ['http://127.0.0.1:8081'], ridesUpstreams: ['http://127.0.0.1:8082'], timeoutMs: GATEWAY_UPSTREAM_TIMEOUT_MS, publicApiOnly: true });
    expect(JSON.stringify(gateway)).not.toContain(SECRETS.SERVICE_TOKEN);
  });

  it('without authorization, the services send no token and the gateway forwards as in 2020', () => {
    const config = loadConfig(env({ RIDESHARE_AUTH: 'off' }));
    expect(usersSettingsFrom(config).db.token).toBeUndefined();
    expect(gatewaySettingsFrom(config).publicApiOnly).toBe(false);
  });

  it('an orchestrator process started without its servers exits with code 2 and says which settings are missing', async () => {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      const entry = path.join(ROOT, 'src/dbaas/orchestrator/main.ts');
      const childEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: path.join(work, 'orchestrator') };
      execFile(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: childEnv, timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, output: `${stdout}${stderr}` });
      });
    });
    expect(code).toBe(2);
    expect(output).toContain('AMQP_URL and ZK_CONNECT must be set');
    // Refused before it made any secret of the cluster.
    expect(fs.existsSync(path.join(work, 'orchestrator', 'secrets', 'cluster.key'))).toBe(false);
  });
});

describe('the README\u2019s settings table', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Settings'), readme.indexOf('\n## ', readme.indexOf('## Settings') + 1));
  /** Each row: the settings it names, and its default column. */
  const rows = section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [names = '', byDefault = ''] = line.split(' | ');
      return { names: [...names.matchAll(/`([A-Z0-9_]+)`/g)].map((match) => match[1] as string), byDefault: byDefault.trim() };
    });

  it('names every setting the configuration reads, and nothing else', () => {
    const named = rows.flatMap((row) => row.names);
    // The secret settings' `<NAME>_FILE` forms, read in place of the variable (secret-settings.ts).
    const secretFiles = SECRET_SETTINGS.map((name) => `${name}_FILE`);
    expect(named.filter((name) => !secretFiles.includes(name)).sort()).toEqual([...SETTING_NAMES].sort());
    expect(named.filter((name) => secretFiles.includes(name)).sort()).toEqual([...secretFiles].sort());
  });

  it('gives each number\u2019s default as the configuration has it', () => {
    const defaults = loadConfig({}) as unknown as Record<string, unknown>;
    const numbers = rows.filter((row) => row.names.length === 1 && /^\d+$/.test(row.byDefault));
    expect(numbers.length).toBeGreaterThan(10);
    for (const row of numbers) {
      const name = row.names[0] as string;
      expect(`${name}=${String(defaults[name])}`).toBe(`${name}=${row.byDefault}`);
    }
  });
});

describe('what npm start passes each process covers what its view reads', () => {
  /** Every setting at a value of its own, none at its default: a view that read one it is not passed would see the default. */
  const everySetting: Record<string, string> = {
    GATEWAY_PORT: '9080',
    ORCHESTRATOR_PORT: '9000,9001',
    USERS_PORT: '9081',
    RIDES_PORT: '9082',
    DATA_DIR: path.join(os.tmpdir(), 'rideshare-settings-never-made'),
    AMQP_URL: 'amqp://u:p@10.0.0.1:5672/v',
    ZK_CONNECT: '10.0.0.2:2181',
    RIDESHARE_CLUSTER: 'green',
    WORKER_RUNTIME: 'docker',
    WORKER_IMAGE: 'rideshare:other',
    SCALE_WINDOW_SECONDS: '60',
    READS_PER_SLAVE: '7',
    MAX_SLAVES: '3',
    RIDESHARE_NOW: '01-01-2030:00-00-12',
    AREAS_FILE: '/nowhere/areas.csv',
    ORCHESTRATOR_STOP_GRACE_MS: '999',
    RPC_TIMEOUT_MS: '1111',
    HTTP_TIMEOUT_MS: '2222',
    ZK_SESSION_TIMEOUT_MS: '3333',
    READ_WAIT_MS: '444',
    READ_HEDGE_MS: '888',
    DURABILITY: 'power',
    SNAPSHOT_TIMEOUT_MS: '5555',
    RESTORE_FROM: '/nowhere/backup',
    ORCHESTRATOR_URL: 'http://o1:1,http://o2:2',
    SHUTDOWN_DRAIN_MS: '666',
    GATEWAY_URL: 'http://gateway.example:1',
    RIDES_PUBLIC_HOST: 'http://rides.example',
    USERS_UPSTREAMS: 'http://u1:1,http://u2:2',
    RIDES_UPSTREAMS: 'http://r1:1',
    BIND_HOST: '0.0.0.0',
    LOG_LEVEL: 'debug',
    ACCESS_LOG: 'off',
    METRICS: 'off',
    RIDESHARE_AUTH: 'on',
    AGENT_HOST: 'rides',
    ORCHESTRATOR_SUPERVISES: 'off',
    UPSTREAM_CHECK_MS: '777',
    RIDESHARE_HOST: 'rides',
    RIDESHARE_HOSTS: 'users=10.9.0.1,rides=10.9.0.2,db=10.9.0.3',
    RIDESHARE_PLACEMENT: 'ha',
    ...SECRETS,
  };
  /** What RideShareSystem gives each kind of process itself (addresses it decided, its port). */
  const given = (...names: string[]) => Object.fromEntries(names.map((name) => [name, everySetting[name] as string]));
  const processes = [
    {
      name: 'orchestrator',
      allowed: ORCHESTRATOR_SETTINGS,
      given: given('AMQP_URL', 'ZK_CONNECT', 'DATA_DIR', 'ORCHESTRATOR_URL', 'ORCHESTRATOR_PORT'),
      view: (config: Config) => orchestratorSettingsFrom(config),
    },
    { name: 'users service', allowed: USERS_SETTINGS, given: given('DATA_DIR', 'ORCHESTRATOR_URL', 'USERS_PORT'), view: usersSettingsFrom },
    { name: 'rides service', allowed: RIDES_SETTINGS, given: given('DATA_DIR', 'ORCHESTRATOR_URL', 'RIDES_PORT'), view: ridesSettingsFrom },
    { name: 'gateway', allowed: GATEWAY_SETTINGS, given: given('USERS_UPSTREAMS', 'RIDES_UPSTREAMS', 'GATEWAY_PORT'), view: gatewaySettingsFrom },
  ];

  it('sets every setting in this test (a new one must be added here too)', () => {
    expect(Object.keys(everySetting).sort()).toEqual([...SETTING_NAMES].sort());
  });

  for (const one of processes) {
    it(`the ${one.name} sees in its environment every setting its view reads`, () => {
      const fromItsEnvironment = one.view(loadConfig(childEnvironment(one.allowed, one.given, everySetting)));
      expect(fromItsEnvironment).toEqual(one.view(loadConfig(everySetting)));
    });
  }
});
