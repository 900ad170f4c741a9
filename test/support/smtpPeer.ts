import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server (npm smtp-server) on 127.0.0.1 for tests: AUTH PLAIN/LOGIN, STARTTLS with a
 * self-signed certificate made by openssl at start. Records every accepted message; each message's
 * answer is scripted by `next` (FIFO), default accept.
 */
export type SmtpAnswer =
  | { kind: 'accept' }
  | { kind: 'reply'; code: number; message: string }
  /** Read the whole message, then destroy the socket without replying. */
  | { kind: 'drop' }
  /** Read the whole message and never reply (the client's socket timeout fires). */
  | { kind: 'hang' };

export interface ReceivedMail {
  messageId: string | undefined;
  raw: string;
  envelope: { from: string; to: string[] };
}

export interface SmtpPeer {
  port: number;
  user: string;
  pass: string;
  received: ReceivedMail[];
  /** Every message whose body arrived, whatever the answer (drop included). */
  bodiesSeen: number;
  next: SmtpAnswer[];
  close(): Promise<void>;
}

export async function startSmtpPeer(opts: { user: string; pass: string }): Promise<SmtpPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-smtp-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const peer: SmtpPeer = {
    port: 0,
    user: opts.user,
    pass: opts.pass,
    received: [],
    bodiesSeen: 0,
    next: [],
    close: async () => {},
  };
  const server = new SMTPServer({
    key: readFileSync(join(dir, 'key.pem')),
    cert: readFileSync(join(dir, 'cert.pem')),
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    closeTimeout: 200,
    onAuth(auth, _session, cb) {
      if (auth.username === peer.user && auth.password === peer.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        peer.bodiesSeen++;
        const raw = Buffer.concat(chunks).toString('utf8');
        const answer = peer.next.shift() ?? { kind: 'accept' };
        if (answer.kind === 'drop') {
          // the connection dies after the final "." arrived, before any reply
          findSocket(server, session.id)?.destroy();
          return;
        }
        if (answer.kind === 'hang') return;
        if (answer.kind === 'reply') {
          cb(Object.assign(new Error(answer.message), { responseCode: answer.code }));
          return;
        }
        const mid = /^message-id:\s*(.+)$/im.exec(raw)?.[1]?.trim();
        peer.received.push({
          messageId: mid,
          raw,
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          },
        });
        cb(null, 'Message queued');
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  peer.port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;
  peer.close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  return peer;
}

/** smtp-server keeps its connections in a private set; find the one for this session to destroy it. */
function findSocket(server: SMTPServer, sessionId: string): { destroy(): void } | undefined {
  const conns = (server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> }).connections;
  for (const c of conns) if (c.id === sessionId) return c._socket;
  return undefined;
}
