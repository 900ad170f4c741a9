import { newId } from '../responses.ts';
import type { ToolCallPlan } from './declared.ts';
import { ToolCallExtractor } from './extractor.ts';
import type { Json, Piece } from './types.ts';

/**
 * Text tool calls made real in Chat Completions answers: a whole answer's message, and a stream's
 * chunks one by one. The first choice is read (the router's clients ask for one); calls join any the
 * node already sent as structured `tool_calls`, and `finish_reason: stop` becomes `tool_calls`.
 */

const finishWith = (finish: unknown, called: boolean): unknown =>
  called && (finish === 'stop' || finish === 'eos' || finish === null || finish === undefined) ? 'tool_calls' : finish;

/** A whole chat completion with the calls in its text made `tool_calls`, in place. */
export function toolCallsInAnswer(json: Json, plan: ToolCallPlan): Json {
  const choice = (json['choices'] as Json[] | undefined)?.[0];
  const message = choice?.['message'] as Json | undefined;
  if (!choice || !message || typeof message['content'] !== 'string') return json;
  const extractor = new ToolCallExtractor(plan);
  const pieces = [...extractor.push(message['content']), ...extractor.end()];
  if (!extractor.sawCalls) return json;
  const text = pieces.map((p) => ('text' in p ? p.text : '')).join('');
  const calls = pieces.flatMap((p) =>
    'call' in p
      ? [{ id: newId('call'), type: 'function', function: { name: p.call.name, arguments: p.call.arguments } }]
      : [],
  );
  message['content'] = text === '' ? null : text;
  message['tool_calls'] = [...((message['tool_calls'] as Json[] | undefined) ?? []), ...calls];
  choice['finish_reason'] = finishWith(choice['finish_reason'], true);
  return json;
}

/**
 * A Chat Completions stream's chunks with the calls in their content made `tool_calls` deltas: a
 * head (index, id, type, name, empty arguments) then the arguments, as OpenAI streams them, so the
 * official clients assemble them. Native tool-call deltas keep their order; indexes are given in the
 * order calls first appear, native or from text.
 */
export class ToolCallChunks {
  private readonly extractor: ToolCallExtractor;
  private template: Json | null = null;
  private nextIndex = 0;
  private readonly native = new Map<number, number>();
  private flushed = false;

  constructor(plan: ToolCallPlan) {
    this.extractor = new ToolCallExtractor(plan);
  }

  private make(delta: Json, finish: unknown = null): Json {
    const base: Json = {};
    for (const [k, v] of Object.entries(this.template ?? {})) if (k !== 'choices' && k !== 'usage') base[k] = v;
    return { ...base, choices: [{ index: 0, delta, finish_reason: finish }] };
  }

  private piecesOut(pieces: Piece[], out: Json[]): void {
    for (const p of pieces) {
      if ('text' in p) {
        out.push(this.make({ content: p.text }));
        continue;
      }
      const index = this.nextIndex++;
      out.push(
        this.make({
          tool_calls: [{ index, id: newId('call'), type: 'function', function: { name: p.call.name, arguments: '' } }],
        }),
      );
      out.push(this.make({ tool_calls: [{ index, function: { arguments: p.call.arguments } }] }));
    }
  }

  /** One chunk in (already normalised), the chunks the client gets for it out. */
  chunk(json: Json): Json[] {
    const choices = json['choices'];
    const choice = Array.isArray(choices) ? (choices[0] as Json | undefined) : undefined;
    if (!choice || (choice['index'] !== undefined && choice['index'] !== 0)) return [json];
    this.template = json;
    const delta = { ...((choice['delta'] as Json | undefined) ?? {}) };
    const finish = choice['finish_reason'] ?? null;
    const content = delta['content'];
    delete delta['content'];
    if (Array.isArray(delta['tool_calls'])) {
      delta['tool_calls'] = (delta['tool_calls'] as Json[]).map((tc, position) => {
        const upstream = typeof tc['index'] === 'number' ? tc['index'] : position;
        let index = this.native.get(upstream);
        if (index === undefined) {
          index = this.nextIndex++;
          this.native.set(upstream, index);
        }
        return { ...tc, index };
      });
    }
    const pieces = typeof content === 'string' && content !== '' ? this.extractor.push(content) : [];
    if (finish !== null) pieces.push(...this.extractor.end());
    const out: Json[] = [];
    const first: Json = { ...delta };
    if (content === '' || content === null) first['content'] = content;
    let rest = pieces;
    const head = pieces[0];
    if (head && 'text' in head) {
      first['content'] = head.text;
      rest = pieces.slice(1);
    }
    if (Object.keys(first).length > 0) out.push(this.make(first));
    this.piecesOut(rest, out);
    if (finish !== null) {
      this.flushed = true;
      out.push(this.make({}, finishWith(finish, this.extractor.sawCalls)));
    }
    if (json['usage'] !== undefined && out.length > 0) out[out.length - 1]!['usage'] = json['usage'];
    return out;
  }

  /** The stream ended (`[DONE]` or its last byte) with no finish chunk: what is still held goes out. */
  flush(): Json[] {
    if (this.flushed || this.template === null) return [];
    this.flushed = true;
    const out: Json[] = [];
    this.piecesOut(this.extractor.end(), out);
    if (this.extractor.sawCalls) out.push(this.make({}, 'tool_calls'));
    return out;
  }
}
