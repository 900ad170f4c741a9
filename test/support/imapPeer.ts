import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';

/**
 * A real Dovecot IMAP server for tests, with its whole config, state and maildirs in a temp dir:
 * plaintext IMAP on 127.0.0.1 (no TLS: loopback only), one passwd-file user, a "Sent" folder
 * created on login with the \Sent special use. Needs /usr/sbin/dovecot (Debian: dovecot-imapd).
 */
export interface ImapPeer {
  port: number;
  user: string;
  pass: string;
  stop(): Promise<void>;
  /** Stop, and later start again on the same port and data (for "unreachable during reconcile"). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export const DOVECOT = '/usr/sbin/dovecot';

export function dovecotAvailable(): boolean {
  return existsSync(DOVECOT);
}

export async function waitForPort(port: number, timeoutMs: number, isDead: () => string | undefined): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    const dead = isDead();
    if (dead) throw new Error(dead);
    if (Date.now() > until) throw new Error(`nothing answers on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export async function startImapPeer(opts: { user: string; pass: string }): Promise<ImapPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-dovecot-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const root = process.getuid?.() === 0;
  // Mail is stored as an unprivileged user: `dovecot` when we are root, else ourselves.
  const mailUser = root ? 'dovecot' : userInfo().username;
  const uid = root ? Number(spawnSync('id', ['-u', 'dovecot']).stdout.toString().trim()) : process.getuid!();
  const gid = root ? Number(spawnSync('id', ['-g', 'dovecot']).stdout.toString().trim()) : process.getgid!();
  for (const sub of ['run', 'state', 'mail']) mkdirSync(join(dir, sub), { recursive: true });
  chownSync(join(dir, 'mail'), uid, gid);
  writeFileSync(join(dir, 'passwd'), `${opts.user}:{PLAIN}${opts.pass}\n`, { mode: 0o644 });
  const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${dir}/mail/%u
first_valid_uid = 1
${root ? '' : `default_internal_user = ${mailUser}\ndefault_login_user = ${mailUser}\ndefault_internal_group = ${userInfo().username}\n`}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${dir}/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    auto = create
    special_use = \\Sent
  }
}
`;
  writeFileSync(join(dir, 'dovecot.conf'), conf);
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    let exit: string | undefined;
    const c = spawn(DOVECOT, ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('exit', (code) => {
      const log = existsSync(join(dir, 'dovecot.log'))
        ? readFileSync(join(dir, 'dovecot.log'), 'utf8').slice(-1500)
        : '';
      exit = `dovecot exited (${code}): ${stderr.slice(-1500)} ${log}`;
    });
    child = c;
    await waitForPort(port, 10_000, () => exit);
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
    user: opts.user,
    pass: opts.pass,
    stop,
    pause: stop,
    resume: start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
