import { readFileSync } from 'node:fs';

/**
 * The name → port entries of a value read back from a file a previous run wrote; anything that
 * is not a port (a hand-edited or truncated file) is left out, so the caller picks a free one. Pure.
 */
export function parsePortMap(value: unknown): Map<string, number> {
  const ports = new Map<string, number>();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ports;
  for (const [name, port] of Object.entries(value)) {
    if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) ports.set(name, port);
  }
  return ports;
}

/** The JSON in `file`, or undefined when it is missing or not JSON. */
export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
