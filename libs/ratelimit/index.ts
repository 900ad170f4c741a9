export { configureBuckets, takeToken, takeOrQueue, drainUntil, readBuckets } from './tokenBucket.ts';
export type { TakeResult, QueueResult } from './tokenBucket.ts';
