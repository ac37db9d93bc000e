/**
 * A small typed reader over untrusted YAML/JSON values that collects every problem with its
 * path (`listeners[1].tls: must be one of none, starttls, implicit`) instead of stopping at the
 * first, and rejects unknown keys. Used by every `parseX` of the relay's inputs.
 */
import { parseDuration, parseSize } from './units.ts';

export class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): void {
    this.list.push(path ? `${path}: ${message}` : message);
  }
}

type Obj = Record<string, unknown>;

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Reads the fields of one mapping; `done()` reports keys nobody asked for. */
export class ObjectReader {
  private readonly seen = new Set<string>();
  readonly ok: boolean;
  private readonly obj: Obj;

  constructor(
    value: unknown,
    readonly path: string,
    readonly problems: Problems,
  ) {
    this.ok = isObject(value);
    if (!this.ok && value !== undefined) problems.add(path, 'must be a mapping');
    this.obj = this.ok ? (value as Obj) : {};
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    this.seen.add(key);
    const value = this.obj[key];
    return value === null ? undefined : value;
  }

  child(key: string): ObjectReader {
    return new ObjectReader(this.raw(key), join(this.path, key), this.problems);
  }

  private missing(key: string): undefined {
    this.problems.add(join(this.path, key), 'is required');
    return undefined;
  }

  string(key: string, opts: { required: true; pattern?: RegExp; patternHint?: string }): string;
  string(key: string, opts?: { required?: false; pattern?: RegExp; patternHint?: string }): string | undefined;
  string(key: string, opts: { required?: boolean; pattern?: RegExp; patternHint?: string } = {}): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return opts.required ? (this.missing(key) ?? '') : undefined;
    if (typeof value !== 'string' || value === '') {
      this.problems.add(join(this.path, key), 'must be a non-empty string');
      return opts.required ? '' : undefined;
    }
    if (opts.pattern && !opts.pattern.test(value)) {
      this.problems.add(join(this.path, key), opts.patternHint ?? `must match ${opts.pattern}`);
    }
    return value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.problems.add(join(this.path, key), `must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.problems.add(join(this.path, key), 'must be true or false');
      return fallback;
    }
    return value;
  }

  number(key: string, fallback: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const { min = -Infinity, max = Infinity, integer = true } = opts;
    if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
      const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
      this.problems.add(join(this.path, key), `must be ${integer ? 'an integer' : 'a number'} ${range}`);
      return fallback;
    }
    return value;
  }

  duration(key: string, fallback: number): number {
    return readDuration(this.raw(key), join(this.path, key), this.problems) ?? fallback;
  }

  size(key: string, fallback: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const parsed = typeof value === 'string' || typeof value === 'number' ? parseSize(value) : undefined;
    if (parsed === undefined) {
      this.problems.add(join(this.path, key), 'must be a size such as 25Mi, 512Ki or a number of bytes');
      return fallback;
    }
    return parsed;
  }

  array(key: string): { items: unknown[]; path: string } {
    const value = this.raw(key);
    const path = join(this.path, key);
    if (value === undefined) return { items: [], path };
    if (!Array.isArray(value)) {
      this.problems.add(path, 'must be a list');
      return { items: [], path };
    }
    return { items: value, path };
  }

  stringList(key: string, check?: (item: string) => string | undefined): string[] {
    const { items, path } = this.array(key);
    const out: string[] = [];
    items.forEach((item, i) => {
      if (typeof item !== 'string' || item === '') {
        this.problems.add(join(path, i), 'must be a non-empty string');
        return;
      }
      const problem = check?.(item);
      if (problem) this.problems.add(join(path, i), problem);
      else out.push(item);
    });
    return out;
  }

  /** Reports unknown keys; call after reading every known key. */
  done(): void {
    for (const key of Object.keys(this.obj)) {
      if (!this.seen.has(key)) this.problems.add(join(this.path, key), 'unknown key');
    }
  }
}

export function readDuration(value: unknown, path: string, problems: Problems): number | undefined {
  if (value === undefined) return undefined;
  const parsed = typeof value === 'string' ? parseDuration(value) : undefined;
  if (parsed === undefined) {
    problems.add(path, 'must be a duration such as 30s, 5m, 4h or 5d');
    return undefined;
  }
  return parsed;
}
