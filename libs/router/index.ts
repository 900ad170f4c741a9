export { createRouter } from './router.ts';
export type { RouteCaller, Router, RouterAnswer, RouterOptions, SkipReason } from './router.ts';
export { openNodeStateStore } from './nodeStateStore.ts';
export type { NodeStateRecord, NodeStateStore, NodeStateStoreOptions } from './nodeStateStore.ts';
export { createUsageLog } from './usageLog.ts';
export type { UsageLog, UsageLogOptions, UsageRecord } from './usageLog.ts';
export { readUsage } from './usageReport.ts';
export { escalationPath, plan } from './plan.ts';
export type { Attempted, Availability, FleetSnapshot, Plan, RouteRequest } from './plan.ts';
export { createFleetRuntime } from './runtime.ts';
export type { FleetRuntime, NodeRuntime } from './runtime.ts';
export { dispatch } from './dispatch.ts';
export type { Committed, DispatchDeps, UpstreamCall } from './dispatch.ts';
export { createProber } from './probe.ts';
export type { Prober, ProberOptions } from './probe.ts';
export { createRouterMetrics } from './metrics.ts';
export type { RouterMetrics } from './metrics.ts';
export { chatNormaliser, clientWantsUsage, passthroughRewriter, responsesTranslator } from './streamRewriters.ts';
export type { ChatNormaliserOptions, StreamRewriter } from './streamRewriters.ts';
export { EMPTY_FLEET, NODES_FILE, loadFleet, modelNames, serversOf } from './fleet.ts';
export { NodeHealth, systemClock } from './health.ts';
export type { Clock } from './health.ts';
export { osMemoryReader, parseMeminfo, parseVmStat } from './memory.ts';
export type { MemoryReader } from './memory.ts';
export { chatTokensBound, countChatTokens, countTextTokens, promptTokensForRouting, tokensNeeded } from './tokens.ts';
export type { ChatTokenCount } from './tokens.ts';
export {
  TOKENIZE_MAX_CHARS,
  TOKENIZE_TIMEOUT_MS,
  byteBound,
  createTokenCounter,
  sharedTokenCounter,
} from './tokenCounter.ts';
export type { TokenCount, TokenCounter, TokenCounterOptions, TokenizeFallback } from './tokenCounter.ts';
export { ChatToResponsesStream, chatToResponse, responsesToChat } from './responses.ts';
export { SseParser } from './sse.ts';
export { isErrorAnswer, normaliseAnswer, normaliseError, quirksFor } from './quirks.ts';
export type { ServerQuirks } from './quirks.ts';
export {
  ToolCallChunks,
  ToolCallExtractor,
  coerceArguments,
  declaredTools,
  toolCallPlan,
  toolCallsInAnswer,
  toolCallsInResponse,
} from './toolCalls/index.ts';
export type { Piece, ToolCall, ToolCallPlan } from './toolCalls/index.ts';
