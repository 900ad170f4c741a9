import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { waitForPort } from './imapPeer.ts';
import { freePort } from './ports.ts';

/**
 * A real Radicale CalDAV server for tests (Debian package `radicale`), with its config, htpasswd
 * (plain) and storage in a temp dir, on 127.0.0.1. `makeCalendar` creates a collection by MKCALENDAR.
 */
export interface RadicalePeer {
  port: number;
  baseUrl: string;
  user: string;
  pass: string;
  makeCalendar(name: string): Promise<string>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export const RADICALE = '/usr/bin/radicale';

export function radicaleAvailable(): boolean {
  return existsSync(RADICALE);
}

export async function startRadicale(opts: { user: string; pass: string }): Promise<RadicalePeer> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-radicale-'));
  mkdirSync(join(dir, 'collections'));
  const port = await freePort();
  writeFileSync(join(dir, 'users'), `${opts.user}:${opts.pass}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'config'),
    `[server]
hosts = 127.0.0.1:${port}
[auth]
type = htpasswd
htpasswd_filename = ${join(dir, 'users')}
htpasswd_encryption = plain
delay = 0
[rights]
type = owner_only
[storage]
filesystem_folder = ${join(dir, 'collections')}
[logging]
level = warning
[web]
type = none
`,
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const auth = `Basic ${Buffer.from(`${opts.user}:${opts.pass}`).toString('base64')}`;
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    let exit: string | undefined;
    let stderr = '';
    const c = spawn(RADICALE, ['--config', join(dir, 'config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    c.on('exit', (code) => (exit = `radicale exited (${code}): ${stderr}`));
    child = c;
    await waitForPort(port, 15_000, () => exit);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
    if (c.exitCode === null) c.kill('SIGKILL');
  };
  await start();
  return {
    port,
    baseUrl,
    user: opts.user,
    pass: opts.pass,
    async makeCalendar(name) {
      const url = `${baseUrl}/${opts.user}/${name}/`;
      const body = `<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><D:displayname>${name}</D:displayname>
  <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>`;
      const res = await request(url, {
        method: 'MKCALENDAR',
        headers: { authorization: auth, 'content-type': 'application/xml' },
        body,
      });
      await res.body.text();
      if (res.statusCode !== 201) throw new Error(`MKCALENDAR ${url} answered ${res.statusCode}`);
      return url;
    },
    pause: stop,
    resume: start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
