import { newId } from '../responses.ts';
import type { ToolCallPlan } from './declared.ts';
import { ToolCallExtractor } from './extractor.ts';
import type { Json } from './types.ts';

/**
 * Text tool calls made real in a Response object a node answered itself (`responses: true`, not
 * streamed): each assistant message's output text is read, and the calls in it become
 * `function_call` items after what is left of the message.
 */
export function toolCallsInResponse(json: Json, plan: ToolCallPlan): Json {
  const output = json['output'];
  if (!Array.isArray(output)) return json;
  const items: Json[] = [];
  for (const item of output as Json[]) {
    const content = item['content'];
    if (item['type'] !== 'message' || !Array.isArray(content)) {
      items.push(item);
      continue;
    }
    const parts: Json[] = [];
    const calls: Json[] = [];
    for (const part of content as Json[]) {
      if (part['type'] !== 'output_text' || typeof part['text'] !== 'string') {
        parts.push(part);
        continue;
      }
      const extractor = new ToolCallExtractor(plan);
      const pieces = [...extractor.push(part['text']), ...extractor.end()];
      const text = pieces.map((p) => ('text' in p ? p.text : '')).join('');
      if (text !== '' || !extractor.sawCalls) parts.push({ ...part, text });
      for (const p of pieces) {
        if (!('call' in p)) continue;
        calls.push({
          type: 'function_call',
          id: newId('fc'),
          call_id: newId('call'),
          name: p.call.name,
          arguments: p.call.arguments,
          status: 'completed',
        });
      }
    }
    if (parts.length > 0) items.push({ ...item, content: parts });
    items.push(...calls);
  }
  json['output'] = items;
  return json;
}
