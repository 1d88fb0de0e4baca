import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/shared/config.ts';
import { checkHostSecrets, erlangCookieOf, HOST_SECRETS, makeHostSecrets, rabbitPasswordOf } from '../../src/system/host-secrets.ts';

const dirs: string[] = [];
const dataDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-host-secrets-'));
  dirs.push(dir);
  return dir;
};
const hostConfig = (dir: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ DATA_DIR: dir, RIDESHARE_HOST: 'users', RIDESHARE_HOSTS: 'users,rides,db', ...env });

afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the secrets every host shares', () => {
  it('are made once, private, and kept by a second run', () => {
    const dir = dataDir();
    const first = makeHostSecrets(dir);
    expect(first.made.map((file) => path.basename(file))).toEqual(HOST_SECRETS.map((secret) => secret.file));
    for (const file of first.made) expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, 'secrets')).mode & 0o777).toBe(0o700);
    const config = hostConfig(dir);
    expect(erlangCookieOf(config)).toMatch(/^[0-9a-f]{48}$/);
    const password = rabbitPasswordOf(config);
    const second = makeHostSecrets(dir);
    expect(second.made).toEqual([]);
    expect(second.kept).toHaveLength(HOST_SECRETS.length);
    expect(rabbitPasswordOf(hostConfig(dir))).toBe(password);
    expect(() => checkHostSecrets(config)).not.toThrow();
  });

  it('are never made by a host: one missing stops its start, naming it and how to make it', () => {
    const dir = dataDir();
    makeHostSecrets(dir);
    fs.rmSync(path.join(dir, 'secrets', 'erlang.cookie'));
    expect(() => checkHostSecrets(hostConfig(dir))).toThrow(ConfigError);
    expect(() => checkHostSecrets(hostConfig(dir))).toThrow(/erlang\.cookie \(or ERLANG_COOKIE\).*npm run secrets/);
    expect(fs.existsSync(path.join(dir, 'secrets', 'erlang.cookie'))).toBe(false);
    // A setting stands in for its file.
    const withSetting = hostConfig(dir, { ERLANG_COOKIE: 'a1b2c3d4e5f6a7b8c9d0' });
    expect(() => checkHostSecrets(withSetting)).not.toThrow();
    expect(erlangCookieOf(withSetting)).toBe('a1b2c3d4e5f6a7b8c9d0');
  });
});
