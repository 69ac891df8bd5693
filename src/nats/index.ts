// Public surface of the NATS area: the only folder that imports @nats-io/*.
export { connectNats, natsOptionsFromEnv } from "./connection.js";
export { prepareNatsRoles, NATS_ROLES } from "./roles.js";
export type { NatsRoles, NatsRoleName } from "./roles.js";
export type { NatsConnectOptions, NatsConnection } from "./connection.js";
export {
  SUBJECT_ROOT,
  SubjectPatterns,
  offerSubject,
  bidSubject,
  matchSubject,
  confirmSubject,
  jobEventsSubject,
  jobLogsSubject,
  heartbeatSubject,
  subjectToken,
} from "./subjects.js";
export { ensureMarketInfrastructure, openResultStore, marketStreamConfigs, marketReplicas, StreamNames, BucketNames } from "./setup.js";
export type { ObjectStore, KV, MarketStore, MarketSetupOptions } from "./setup.js";
export { createNatsMarketTransport } from "./market-transport.js";
export type { NatsMarketTransport } from "./market-transport.js";
export { createMarketClient } from "./market-client.js";
export type { MarketClient, StoredMessage, JobHistory } from "./market-client.js";
