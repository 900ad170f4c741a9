import { coerceArguments } from './coerce.ts';
import type { ToolCallPlan } from './declared.ts';
import { formatsFor } from './formats.ts';
import type { Formats } from './formats.ts';
import type { BlockFormat, Piece, RawCall, ToolCall } from './types.ts';

/**
 * Finds tool calls written as text in a reply that arrives in pieces (a stream's content deltas,
 * or a whole answer as one piece), and hands out, in order, the text that stays content and the
 * calls. Text goes out at once unless it may be the start of a marker (`<tool_c` at a delta's
 * end is held until the next delta says); a block is held until it ends, then becomes calls when
 * it parses and every name in it was declared, else it goes out as the text it was. A `<think>`
 * block passes through untouched: calls count only after it. Whitespace between text and a call is
 * dropped, so a reply that is only calls has no content.
 */

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

type Mode = 'start' | 'text' | 'think' | 'block' | 'whole';

/** The longest end of `text` that is the start of one of `markers` (held until more text says). */
function partialMarker(text: string, markers: readonly string[]): number {
  const longest = Math.max(0, ...markers.map((m) => m.length - 1));
  for (let k = Math.min(longest, text.length); k > 0; k--) {
    const tail = text.slice(text.length - k);
    if (markers.some((m) => m.startsWith(tail))) return k;
  }
  return 0;
}

export class ToolCallExtractor {
  private readonly formats: Formats;
  private readonly markers: string[];
  private pending = '';
  private mode: Mode = 'start';
  private opener = '';
  private whitespace = '';
  private called = false;
  private afterCall = false;

  private readonly plan: ToolCallPlan;

  constructor(plan: ToolCallPlan) {
    this.plan = plan;
    this.formats = formatsFor(plan.parser);
    this.markers = [...new Set([THINK_OPEN, ...this.formats.blocks.map((f) => f.open)])];
  }

  /** True once a call went out. */
  get sawCalls(): boolean {
    return this.called;
  }

  push(text: string): Piece[] {
    this.pending += text;
    return this.run(false);
  }

  /** The reply ended: whatever is held goes out (an unclosed block is parsed as it is). */
  end(): Piece[] {
    const out = this.run(true);
    if (!this.called && this.whitespace) {
      const last = out[out.length - 1];
      if (last && 'text' in last) last.text += this.whitespace;
      else out.push({ text: this.whitespace });
    }
    this.whitespace = '';
    return out;
  }

  /** Text out; whitespace at its end waits for what follows (dropped next to a call, kept next to text). */
  private emitText(out: Piece[], text: string): void {
    if (text === '') return;
    const body = this.afterCall ? text.trim() : text.trimEnd();
    if (body === '') {
      this.whitespace += text;
      return;
    }
    const joined = (this.afterCall ? '' : this.whitespace) + body;
    this.whitespace = text.slice(text.trimEnd().length);
    this.afterCall = false;
    const last = out[out.length - 1];
    if (last && 'text' in last) last.text += joined;
    else out.push({ text: joined });
  }

  /** Raw calls as declared, coerced calls; null when any name was not declared or any arguments are not an object. */
  private accept(raw: RawCall[] | null): ToolCall[] | null {
    if (!raw || raw.length === 0) return null;
    const calls: ToolCall[] = [];
    for (const r of raw) {
      if (!this.plan.tools.has(r.name)) return null;
      const args = coerceArguments(r.arguments, this.plan.tools.get(r.name));
      if (!args) return null;
      calls.push({ name: r.name, arguments: JSON.stringify(args) });
    }
    return calls;
  }

  private emitCalls(out: Piece[], calls: ToolCall[]): void {
    this.whitespace = '';
    this.called = true;
    this.afterCall = true;
    for (const call of calls) out.push({ call });
  }

  private blocksOpenedBy(opener: string): BlockFormat[] {
    return this.formats.blocks.filter((f) => f.open === opener);
  }

  private run(final: boolean): Piece[] {
    const out: Piece[] = [];
    for (;;) {
      switch (this.mode) {
        case 'start': {
          const whole = this.formats.whole;
          if (!whole) {
            this.mode = 'text';
            break;
          }
          if (this.pending.trim() === '' && !final) return out;
          if (this.pending.trim() !== '' && whole.mayBe(this.pending)) this.mode = 'whole';
          else this.mode = 'text';
          break;
        }
        case 'whole': {
          const whole = this.formats.whole!;
          if (!final) {
            if (whole.mayBe(this.pending.slice(0, 64))) return out;
            this.mode = 'text';
            break;
          }
          const calls = this.accept(whole.parse(this.pending));
          if (calls) this.emitCalls(out, calls);
          else this.emitText(out, this.pending);
          this.pending = '';
          return out;
        }
        case 'text': {
          let at = -1;
          let marker = '';
          for (const m of this.markers) {
            const i = this.pending.indexOf(m);
            if (i >= 0 && (at < 0 || i < at)) {
              at = i;
              marker = m;
            }
          }
          if (at < 0) {
            const hold = final ? 0 : partialMarker(this.pending, this.markers);
            this.emitText(out, this.pending.slice(0, this.pending.length - hold));
            this.pending = this.pending.slice(this.pending.length - hold);
            return out;
          }
          this.emitText(out, this.pending.slice(0, at));
          this.pending = this.pending.slice(at + marker.length);
          if (marker === THINK_OPEN) {
            this.emitText(out, THINK_OPEN);
            this.mode = 'think';
          } else {
            this.opener = marker;
            this.mode = 'block';
          }
          break;
        }
        case 'think': {
          const i = this.pending.indexOf(THINK_CLOSE);
          if (i >= 0) {
            this.emitText(out, this.pending.slice(0, i + THINK_CLOSE.length));
            this.pending = this.pending.slice(i + THINK_CLOSE.length);
            this.mode = 'text';
            break;
          }
          const hold = final ? 0 : partialMarker(this.pending, [THINK_CLOSE]);
          this.emitText(out, this.pending.slice(0, this.pending.length - hold));
          this.pending = this.pending.slice(this.pending.length - hold);
          return out;
        }
        case 'block': {
          const formats = this.blocksOpenedBy(this.opener);
          const end = formats[0]!.end(this.pending);
          if (end < 0 && !final) return out;
          const body = end < 0 ? this.pending : this.pending.slice(0, end);
          this.pending = end < 0 ? '' : this.pending.slice(end);
          const block = this.opener + body;
          let calls: ToolCall[] | null = null;
          for (const f of formats) {
            calls = this.accept(f.parse(block));
            if (calls) break;
          }
          if (calls) this.emitCalls(out, calls);
          else this.emitText(out, block);
          this.mode = 'text';
          break;
        }
      }
    }
  }
}
