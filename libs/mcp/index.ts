export { HandoffApiError, callApi, holdsOperatorToken } from './backend.ts';
export type { HandoffBackend } from './backend.ts';
export { createHttpBackend } from './httpBackend.ts';
export type { HttpBackendOptions } from './httpBackend.ts';
export { channelNames, payloadJsonSchema } from './channelSchemas.ts';
export {
  handoffTools,
  proposeIntentTool,
  intentStatusTool,
  waitForIntentTool,
  listChannelsTool,
  WAIT_DEFAULT_SECONDS,
  WAIT_MAX_SECONDS,
} from './tools.ts';
export type { HandoffTool, ToolAnswer, ToolContext } from './tools.ts';
export { createHandoffMcpServer, runTool, toolError, SERVER_NAME } from './server.ts';
export type { McpServerOptions } from './server.ts';
