// Exponential backoff with jitter, for restarting watches and retrying the sink.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000 };

// The delay before retry number `attempt` (0 for the first): doubling from
// initialMs up to maxMs, then a random cut of up to half so that many agents
// failing together do not retry together.
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling * (1 - random() / 2));
}
