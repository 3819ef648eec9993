// Distributed mode: the aggregator publishes the DNS view to NATS and every
// frontend follows it from there, needing nothing but NATS.
export { NatsViewPublisher } from './viewPublisher.js';
export { NatsViewFeed } from './natsViewFeed.js';
export type { ViewDistributionOptions } from './viewWire.js';
