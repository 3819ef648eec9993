// A benchmark's size from the environment: the fallback when unset, else a
// non-negative number; anything else ends the benchmark with one line naming the variable.
export function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  const value = text === undefined || text === '' ? fallback : Number(text);
  if (Number.isFinite(value) && value >= 0) return value;
  console.error(`${name} must be a non-negative number, not ${JSON.stringify(text)}`);
  process.exit(2);
}
