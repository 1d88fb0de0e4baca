/**
 * Secret settings as files (`<NAME>_FILE`): the value is the file's content, so compose can mount
 * secrets instead of putting them in the environment; a file that cannot be read, or a setting
 * given both ways, stops the start with a message naming the setting.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, zkCredentialsFor } from '../../src/shared/config.ts';

describe('secret settings from files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-secret-files-'));
  const file = (name: string, content: string) => {
    const target = path.join(dir, name);
    fs.writeFileSync(target, content, { mode: 0o600 });
    return target;
  };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads each secret from its _FILE, without the trailing newline', () => {
    const config = loadConfig({
      DATA_DIR: dir,
      SERVICE_TOKEN_FILE: file('service', 'service-token-0123456789\n'),
      ADMIN_TOKEN_FILE: file('admin', 'admin-token-0123456789'),
      CLUSTER_KEY_FILE: file('key', 'cluster-key-0123456789\n'),
      ZK_AUTH_FILE: file('zk', 'rideshare:zk-password-0123\n'),
      AMQP_URL_FILE: file('amqp', 'amqp://rideshare:amqp-password@127.0.0.1:5673/rideshare\n'),
    });
    expect(config.SERVICE_TOKEN).toBe('service-token-0123456789');
    expect(config.ADMIN_TOKEN).toBe('admin-token-0123456789');
    expect(config.CLUSTER_KEY).toBe('cluster-key-0123456789');
    expect(zkCredentialsFor(config)).toEqual({ user: 'rideshare', password: 'zk-password-0123' });
    expect(config.AMQP_URL).toBe('amqp://rideshare:amqp-password@127.0.0.1:5673/rideshare');
  });

  it('validates a value from a file as it validates one from the environment', () => {
    expect(() => loadConfig({ DATA_DIR: dir, ADMIN_TOKEN_FILE: file('short', 'short') })).toThrow(/ADMIN_TOKEN: 16 to 256 printable/);
  });

  it('refuses a file it cannot read, naming the setting and the file', () => {
    const missing = path.join(dir, 'nowhere');
    const attempt = () => loadConfig({ DATA_DIR: dir, SERVICE_TOKEN_FILE: missing });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(`SERVICE_TOKEN_FILE: cannot read ${missing} (ENOENT)`);
  });

  it('refuses a setting given both ways', () => {
    expect(() => loadConfig({ DATA_DIR: dir, ZK_AUTH: 'rideshare:password-1', ZK_AUTH_FILE: file('zk2', 'rideshare:password-2') })).toThrow('ZK_AUTH and ZK_AUTH_FILE are both set: keep one');
  });
});
