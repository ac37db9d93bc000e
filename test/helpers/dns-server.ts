import { createRequire } from 'node:module';
import { createServer as createTcpServer, isIPv4, isIPv6 } from 'node:net';
import type { AddressInfo, Server as TcpServer, Socket } from 'node:net';

/**
 * A real DNS server on 127.0.0.1 for tests: UDP and TCP on the same ephemeral port, serving a
 * mutable in-memory zone, so code under test can use node:dns (c-ares) unchanged through
 * `resolver.setServers([server])`. Wire format comes from dns2's Packet; UDP is dns2's
 * UDPServer. TCP is framed here because dns2's TCPServer answers one query per connection and
 * closes it, while c-ares may send several queries down one connection.
 *
 * Answers follow what resolvers rely on: an unknown name is NXDOMAIN (node: ENOTFOUND), a
 * known name without records of the asked type is NOERROR with no answers (node: ENODATA), and
 * a name is known if it or any name below it is in the zone (empty non-terminals exist).
 * UDP answers over 512 bytes are truncated (TC) so the client retries over TCP, as with a real
 * server and a long TXT record.
 */

export interface ZoneRecords {
  mx?: Array<{ preference: number; exchange: string }>;
  a?: string[];
  aaaa?: string[];
  /** Each record is a list of strings; a string over 255 bytes is split on the wire. */
  txt?: string[][];
  /** servfail: answer SERVFAIL (node: ESERVFAIL). timeout: never answer (node: ETIMEOUT). */
  fail?: 'servfail' | 'timeout';
  /**
   * Query types answered REFUSED (node: EREFUSED) for this name, as dnsmasq 2.90 answers AAAA
   * for a name it holds only an A record for.
   */
  refuse?: ReadonlyArray<'A' | 'AAAA' | 'MX' | 'TXT'>;
}

export interface DnsServer {
  readonly port: number;
  readonly address: string;
  /** `127.0.0.1:PORT`, for `Resolver#setServers`. */
  readonly server: string;
  /** Adds or replaces a name's records. */
  set(name: string, records: ZoneRecords): void;
  /** Removes a name, which then answers NXDOMAIN. */
  remove(name: string): void;
  /** Every question received, in order; names lowercased without the final dot. */
  readonly queries: Array<{ name: string; type: string; transport: 'udp' | 'tcp' }>;
  close(): Promise<void>;
}

// -- dns2 has no type declarations; these cover the part used here ------------------------------

interface Dns2Question {
  name: string;
  type: number;
  class: number;
}

interface Dns2Packet {
  header: { qr: number; aa: number; ra: number; tc: number; rcode: number };
  questions: Dns2Question[];
  answers: object[];
  authorities: object[];
  additionals: object[];
  toBuffer(): Buffer;
}

interface Dns2PacketStatic {
  parse(buf: Buffer): Dns2Packet;
  createResponseFromRequest(request: Dns2Packet): Dns2Packet;
  TYPE: Record<string, number>;
  CLASS: Record<string, number>;
}

interface Dns2UdpServer {
  on(event: 'request', listener: (request: Dns2Packet, send: (response: Buffer) => Promise<unknown>) => void): this;
  on(event: 'error' | 'requestError', listener: (err: Error) => void): this;
  listen(port: number, address: string): Promise<void>;
  address(): AddressInfo;
  close(callback?: () => void): void;
}

interface Dns2Module {
  Packet: Dns2PacketStatic;
  UDPServer: new (options: { type: 'udp4' }) => Dns2UdpServer;
}

const requireCjs = createRequire(import.meta.url);
const { Packet, UDPServer } = requireCjs('dns2') as Dns2Module;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const UDP_LIMIT = 512;
const TTL = 60;
const TYPE_NAMES = new Map(Object.entries(Packet.TYPE).map(([name, value]) => [value, name]));

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** dns2 only parses fully written-out IPv6 addresses reliably. */
function expandIpv6(address: string): string {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const [a, b, c, d] = v4[1].split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...fill, ...tailGroups].map((g) => g.padStart(4, '0')).join(':');
}

/** Splits a TXT string into the <=255-byte character-strings DNS carries. */
function characterStrings(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return [bytes];
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) parts.push(bytes.subarray(i, i + 255));
  return parts;
}

function validate(name: string, records: ZoneRecords): void {
  for (const ip of records.a ?? []) if (!isIPv4(ip)) throw new Error(`dns-server: ${name}: bad A address ${ip}`);
  for (const ip of records.aaaa ?? []) if (!isIPv6(ip)) throw new Error(`dns-server: ${name}: bad AAAA address ${ip}`);
  for (const mx of records.mx ?? []) {
    if (!Number.isInteger(mx.preference) || mx.preference < 0 || mx.preference > 0xffff) {
      throw new Error(`dns-server: ${name}: bad MX preference ${mx.preference}`);
    }
  }
}

function resourcesFor(question: Dns2Question, records: ZoneRecords): object[] {
  const base = { name: question.name, class: Packet.CLASS.IN, ttl: TTL };
  switch (question.type) {
    case Packet.TYPE.A:
      return (records.a ?? []).map((address) => ({ ...base, type: Packet.TYPE.A, address }));
    case Packet.TYPE.AAAA:
      return (records.aaaa ?? []).map((address) => ({ ...base, type: Packet.TYPE.AAAA, address: expandIpv6(address) }));
    case Packet.TYPE.MX:
      // exchange "." (null MX, RFC 7505) encodes as the root name
      return (records.mx ?? []).map((mx) => ({ ...base, type: Packet.TYPE.MX, priority: mx.preference, exchange: mx.exchange }));
    case Packet.TYPE.TXT:
      return (records.txt ?? []).map((strings) => ({ ...base, type: Packet.TYPE.TXT, data: strings.flatMap(characterStrings) }));
    default:
      return [];
  }
}

export interface DnsServerOptions {
  /**
   * Records for names the zone does not hold, or types it does not hold for a name (a wildcard
   * stand-in: the local stack answers MX 127.0.0.1 for every domain of the internet).
   */
  fallback?: (name: string) => ZoneRecords | undefined;
  /** Local address to listen on (default 127.0.0.1); pods on the test node reach the host at the node IP. */
  address?: string;
  /** Port for UDP and TCP (default: an ephemeral one); e.g. 53 where pods' resolv.conf points. */
  port?: number;
}

export async function startDnsServer(initialZone: Record<string, ZoneRecords> = {}, options: DnsServerOptions = {}): Promise<DnsServer> {
  const zone = new Map<string, ZoneRecords>();
  const set = (name: string, records: ZoneRecords): void => {
    validate(name, records);
    zone.set(normalizeName(name), records);
  };
  for (const [name, records] of Object.entries(initialZone)) set(name, records);
  const queries: Array<{ name: string; type: string; transport: 'udp' | 'tcp' }> = [];

  function nameExists(name: string): boolean {
    if (zone.has(name)) return true;
    for (const key of zone.keys()) if (key.endsWith(`.${name}`)) return true;
    return false;
  }

  /** The wire answer for a query, or undefined to stay silent (simulated timeout). */
  function respond(wire: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    let request: Dns2Packet;
    try {
      request = Packet.parse(wire);
    } catch {
      return undefined;
    }
    const question = request.questions[0];
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    response.answers = [];
    response.authorities = [];
    if (!question) {
      response.header.rcode = RCODE.FORMERR;
      return response.toBuffer();
    }
    const name = normalizeName(question.name);
    queries.push({ name, type: TYPE_NAMES.get(question.type) ?? String(question.type), transport });
    const own = zone.get(name);
    const fallback = options.fallback?.(name);
    const records = fallback ? { ...fallback, ...own } : own;
    if (records?.fail === 'timeout') return undefined;
    if (records?.fail === 'servfail') {
      response.header.rcode = RCODE.SERVFAIL;
    } else if (records?.refuse?.some((type) => Packet.TYPE[type] === question.type)) {
      response.header.rcode = RCODE.REFUSED;
    } else if (!records && !nameExists(name)) {
      response.header.rcode = RCODE.NXDOMAIN;
    } else {
      response.header.rcode = RCODE.NOERROR;
      response.answers = records ? resourcesFor(question, records) : [];
    }
    const buf = response.toBuffer();
    if (transport === 'tcp' || buf.length <= UDP_LIMIT) return buf;
    response.answers = [];
    response.header.tc = 1;
    return response.toBuffer();
  }

  const createUdp = (): Dns2UdpServer => {
    const udp = new UDPServer({ type: 'udp4' });
    udp.on('error', () => {});
    udp.on('requestError', () => {});
    // dns2 has parsed the query already; re-encoding it lets both transports share respond()
    udp.on('request', (request, send) => {
      const answer = respond(request.toBuffer(), 'udp');
      if (answer) send(answer).catch(() => {});
    });
    return udp;
  };

  const connections = new Set<Socket>();
  const tcp: TcpServer = createTcpServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      // RFC 1035 4.2.2: each message is prefixed with its two-byte length
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        const answer = respond(pending.subarray(2, 2 + length), 'tcp');
        pending = pending.subarray(2 + length);
        if (!answer) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(answer.length);
        socket.write(Buffer.concat([prefix, answer]));
      }
    });
  });
  tcp.on('error', () => {});

  const address = options.address ?? '127.0.0.1';
  const { udp, port } = await bindBoth(createUdp, tcp, address, options.port ?? 0);
  let closing: Promise<void> | undefined;

  return {
    port,
    address,
    server: `${address}:${port}`,
    set,
    remove: (name) => void zone.delete(normalizeName(name)),
    queries,
    close() {
      closing ??= Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => {
          tcp.close(() => resolve());
          for (const socket of connections) socket.destroy();
        }),
      ]).then(() => undefined);
      return closing;
    },
  };
}

/**
 * Binds UDP to an ephemeral port, then TCP to the same one: resolvers use one port for both.
 * Something else may hold that TCP port, so a few fresh UDP ports are tried.
 */
async function bindBoth(createUdp: () => Dns2UdpServer, tcp: TcpServer, address: string, fixedPort: number): Promise<{ udp: Dns2UdpServer; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = createUdp();
    await udp.listen(fixedPort, address);
    const port = udp.address().port;
    const tcpError = await new Promise<Error | undefined>((resolve) => {
      const onError = (err: Error): void => resolve(err);
      tcp.once('error', onError);
      tcp.listen(port, address, () => {
        tcp.off('error', onError);
        resolve(undefined);
      });
    });
    if (!tcpError) return { udp, port };
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (attempt >= 20 || fixedPort !== 0) throw tcpError;
  }
}
