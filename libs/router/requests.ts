import type { ChatCompletionsBody, ResponsesBody } from '@handoff/contracts';
import type { UpstreamCall } from './dispatch.ts';
import type { Server } from './fleet.ts';
import type { Json } from './json.ts';
import { quirksFor } from './quirks.ts';

/** What each node is sent for a client's request: its own model id and its kind's rewrites. */

/** A Chat Completions request: usage asked for in streams when the kind can report it (for metrics). */
export function chatCall(server: Server, body: ChatCompletionsBody, stream: boolean): UpstreamCall {
  const quirks = quirksFor(server.node.kind);
  const out = quirks.request({ ...body, model: server.model.id });
  if (stream && quirks.askStreamUsage)
    out['stream_options'] = { ...(out['stream_options'] as object | undefined), include_usage: true };
  return { path: '/chat/completions', body: JSON.stringify(out), translate: false };
}

/**
 * A Responses request: passed through to a node that serves /responses itself, else sent as
 * `chat` (the request translated by responsesToChat) to /chat/completions, to be translated back.
 */
export function responsesCall(server: Server, body: ResponsesBody, chat: Json): UpstreamCall {
  if (server.node.responses)
    return { path: '/responses', body: JSON.stringify({ ...body, model: server.model.id }), translate: false };
  return {
    path: '/chat/completions',
    body: JSON.stringify(quirksFor(server.node.kind).request({ ...chat, model: server.model.id })),
    translate: true,
  };
}
