import { JoinInfo } from './contracts.ts';

/** A join string: the node's JoinInfo as base64url JSON, one shell word. */
export function encodeJoin(info: JoinInfo): string {
  return Buffer.from(JSON.stringify(info)).toString('base64url');
}

export class InvalidJoinString extends Error {
  constructor(why: string) {
    super(`the join string is not one \`handoff node add\` printed (${why}); copy it again, whole`);
    this.name = 'InvalidJoinString';
  }
}

export function decodeJoin(join: string): JoinInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(join.trim(), 'base64url').toString('utf8'));
  } catch {
    throw new InvalidJoinString('not base64url JSON');
  }
  const result = JoinInfo.safeParse(parsed);
  if (!result.success) throw new InvalidJoinString(result.error.issues[0]?.message ?? 'unexpected shape');
  return result.data;
}

/** The command `handoff node add` prints for the node. */
export function joinCommand(join: string): string {
  return `handoff executor --join '${join}'`;
}
