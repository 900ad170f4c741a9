import type { AgentErrorCode } from '@handoff/contracts';

/** Why a run ends without `done`; the loop turns it into the `error` event. */
export class StopError extends Error {
  readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
