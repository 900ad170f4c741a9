export { startExecutor, type ExecutorOptions, type RunningExecutor } from './executor.ts';
export { processTicket, processTickets, type TicketOutcome } from './processIntent.ts';
export { backoffMs } from './backoff.ts';
export { heldKeys, loadSecrets, type Secrets } from './secrets.ts';
