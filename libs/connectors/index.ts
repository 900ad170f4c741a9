export type { Connector, ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from './connector.ts';
export {
  ConnectorError,
  RetryableError,
  RateLimitedError,
  PermanentError,
  UnknownOutcomeError,
  classifyError,
} from './errors.ts';
export type { ErrorClass, ClassifiedError } from './errors.ts';
export { noopConnector } from './noop.ts';
export type { NoopPayload } from './noop.ts';
export { webhookConnector, createWebhookConnector, WebhookPayload, parseRetryAfter } from './webhook.ts';
export type { WebhookConnector, WebhookConnectorOptions } from './webhook.ts';
export { builtInConnectors, createConnectorRegistry } from './registry.ts';
export type { ConnectorRegistry, PayloadValidation } from './registry.ts';
export {
  xConnector,
  createXConnector,
  XPayload,
  XCredentials,
  writeBackToSecretsFile,
  normaliseXText,
  xWeightedLength,
  X_MAX_WEIGHTED_LENGTH,
} from './x.ts';
export { toInstant } from './calendarIcs.ts';
export type { XConnector, XConnectorOptions, RefreshedCredentials } from './x.ts';
export {
  deployConnector,
  createDeployConnector,
  DeployPayload,
  GithubDeployPayload,
  WebhookDeployPayload,
  IDEMPOTENCY_FIELD,
} from './deploy.ts';
export type { DeployConnector, DeployConnectorOptions } from './deploy.ts';
export { emailConnector, createEmailConnector, EmailPayload, emailMessageId, classifySmtpError } from './email.ts';
export type { EmailConnector, EmailConnectorOptions, EmailCredentials } from './email.ts';
export { calendarConnector, createCalendarConnector, CalendarPayload, calendarEventUid } from './calendar.ts';
export type { CalendarConnector, CalendarConnectorOptions, CalendarCredentials } from './calendar.ts';
export {
  protectHost,
  protectEndpoint,
  protectLocalPort,
  protectOwnEndpoints,
  internalAddressReason,
  ADDRESS_REFUSED,
} from './addressGuard.ts';
export type { AddressGuard, Resolve } from './addressGuard.ts';
export { assertCredentialHost } from './credentialHosts.ts';
export { notifyConnector, createNotifyConnector } from './notify.ts';
export type { NotifyConnector, NotifyConnectorOptions } from './notify.ts';
