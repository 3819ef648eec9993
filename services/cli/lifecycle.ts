// What a command started, stopped in reverse order; a failure while starting
// stops what already runs before the error is reported.
import type { Logger } from '../../shared/logger.js';

export interface Running {
  stop(): Promise<void>;
}

export class Stack implements Running {
  private readonly stops: (() => Promise<void> | void)[] = [];

  constructor(private readonly logger: Logger) {}

  add(stop: () => Promise<void> | void): void {
    this.stops.push(stop);
  }

  async stop(): Promise<void> {
    while (this.stops.length > 0) {
      try {
        await this.stops.pop()!();
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'error while stopping');
      }
    }
  }

  // Runs `start`; if it throws, stops everything added so far and rethrows.
  async build(start: (stack: Stack) => Promise<void>): Promise<Running> {
    try {
      await start(this);
      return this;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }
}

export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
