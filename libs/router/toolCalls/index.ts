export { ToolCallChunks, toolCallsInAnswer } from './chat.ts';
export { coerceArguments, coerceValue } from './coerce.ts';
export { declaredTools, parserOf, toolCallPlan } from './declared.ts';
export type { ToolCallPlan } from './declared.ts';
export { ToolCallExtractor } from './extractor.ts';
export { formatsFor } from './formats.ts';
export { toolCallsInResponse } from './responses.ts';
export type { Piece, ToolCall } from './types.ts';
