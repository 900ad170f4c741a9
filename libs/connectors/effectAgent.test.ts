import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { createEffectAgent } from './effectAgent.ts';

/**
 * How the receiver's end of a connection ends when the client gives a call up mid-flight: a reset
 * (the client's kernel dropped what it held) or an orderly close (its kernel would still deliver
 * unacknowledged bytes after a partition heals).
 */
async function howGivenUpCallEnds(dispatcher: Agent): Promise<'reset' | 'closed'> {
  let arrived!: () => void;
  const requestArrived = new Promise<void>((r) => (arrived = r));
  let ended!: (how: 'reset' | 'closed') => void;
  const end = new Promise<'reset' | 'closed'>((r) => (ended = r));
  // a receiver that reads the call and never answers
  const server = createServer((socket: Socket) => {
    socket.once('data', () => arrived());
    socket.on('error', (err: NodeJS.ErrnoException) => ended(err.code === 'ECONNRESET' ? 'reset' : 'closed'));
    socket.on('end', () => ended('closed'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const controller = new AbortController();
    const call = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/effect`, {
      dispatcher,
      method: 'POST',
      body: '{"post":"hello"}',
      signal: controller.signal,
    });
    await requestArrived;
    controller.abort(new Error('lease lost'));
    await assert.rejects(call);
    return await end;
  } finally {
    server.close();
    await dispatcher.close().catch(() => undefined);
  }
}

test('a call given up mid-flight resets its connection, so that nothing it sent can arrive later', async () => {
  assert.equal(await howGivenUpCallEnds(createEffectAgent()), 'reset');
});

test('(for contrast) a plain undici Agent closes it in order, leaving unacknowledged bytes to the kernel', async () => {
  assert.equal(await howGivenUpCallEnds(new Agent()), 'closed');
});

/** Connections a dispatcher opens for three calls in a row, and how the receiver saw the last one end. */
async function threeCalls(dispatcher: Agent): Promise<{ connections: number; lastEnd: string }> {
  let connections = 0;
  let lastEnd = 'open';
  const server = createServer((socket) => {
    connections++;
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=5\r\n\r\nok'));
    socket.on('error', (err: NodeJS.ErrnoException) => (lastEnd = err.code ?? 'error'));
    socket.on('end', () => (lastEnd = 'closed'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    for (let i = 0; i < 3; i++) {
      const res = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { dispatcher });
      assert.equal(await res.body.text(), 'ok');
    }
    await dispatcher.close();
    await new Promise((r) => setTimeout(r, 50));
    return { connections, lastEnd };
  } finally {
    server.close();
  }
}

test('finished calls keep their connection alive as a plain Agent does, and closing it is orderly', async () => {
  const plain = await threeCalls(new Agent());
  const effect = await threeCalls(createEffectAgent());
  assert.equal(effect.connections, plain.connections);
  assert.ok(effect.connections < 3, `${effect.connections} connections for 3 calls`);
  assert.equal(effect.lastEnd, 'closed');
});
