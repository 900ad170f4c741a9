import { isIP, Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { checkedAddress, type AddressGuard } from './addressGuard.ts';

export interface EffectAgentOptions {
  connectTimeoutMs?: number;
  /** Refuse internal addresses at connect time (addressGuard.ts): connectors whose URLs intents name. */
  addressGuard?: AddressGuard;
  keepAliveTimeoutMs?: number;
  keepAliveMaxTimeoutMs?: number;
}

/**
 * The undici Agent every connector calls its provider through. When a call is given up (the lease
 * was lost, a timeout fired), its connection is reset (RST) instead of closed. A close hands the
 * request's unacknowledged bytes to the kernel, which keeps retransmitting them: after a partition
 * heals, the receiver would get the abandoned call, possibly after another executor had asked "did
 * you get it?", heard "no" and called again. A reset makes the kernel drop them.
 *
 * Plain TCP only: Node cannot reset a TLS socket, so for https providers the receiver's own
 * deduplication (Idempotency-Key, X's duplicate-content check, CalDAV's If-None-Match, the
 * Message-ID) stays the only guard against a late delivery (docs/connectors.md).
 */
export function createEffectAgent(options: EffectAgentOptions = {}): Agent {
  const connect = buildConnector({ timeout: options.connectTimeoutMs ?? 10_000 });
  const guard = options.addressGuard;
  const open: buildConnector.connector = (connectOptions, callback) =>
    connect(connectOptions, (err, socket) => {
      if (socket) resetWhenGivenUp(socket);
      // the callback's overloads want the two shapes spelled apart
      if (err) callback(err, null);
      else callback(null, socket!);
    });
  return new Agent({
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 10_000,
    keepAliveMaxTimeout: options.keepAliveMaxTimeoutMs ?? 60_000,
    connect: guard
      ? (connectOptions, callback) => {
          const port = connectOptions.port || (connectOptions.protocol === 'https:' ? '443' : '80');
          // Resolved once, here: the socket goes to the very address that was checked. `host`
          // keeps the name, so TLS still verifies the certificate against it (SNI).
          checkedAddress(guard, connectOptions.hostname, port, (err, address) => {
            if (err) callback(err, null);
            else
              open(
                {
                  ...connectOptions,
                  hostname: address!,
                  servername: connectOptions.servername ?? tlsName(connectOptions.hostname),
                },
                callback,
              );
          });
        }
      : open,
  });
}

/** The TLS server name for a host: a name, never an IP address (SNI does not carry addresses). */
function tlsName(hostname: string): string | undefined {
  return isIP(hostname.replace(/^\[(.*)\]$/, '$1')) ? undefined : hostname;
}

/**
 * How undici destroys a socket when it gives its request up: an abort (InformationalError
 * "aborted") or a timeout. Closing an idle or finished connection (Agent#close, keep-alive expiry)
 * stays an orderly close: nothing is in flight there.
 */
function givesRequestUp(err: Error | undefined): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (
    (code === 'UND_ERR_INFO' && err?.message === 'aborted') ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  );
}

function resetWhenGivenUp(socket: Socket): void {
  if (socket instanceof TLSSocket || !(socket instanceof Socket)) return;
  const destroy = socket.destroy.bind(socket);
  socket.destroy = (err?: Error): Socket => {
    // The flag Socket#resetAndDestroy sets; set here so that the error still reaches undici.
    if (givesRequestUp(err) && !socket.destroyed && !socket.connecting)
      (socket as Socket & { resetAndClosing?: boolean }).resetAndClosing = true;
    return destroy(err);
  };
}
