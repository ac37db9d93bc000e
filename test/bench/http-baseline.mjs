// The node:http ceiling for the HTTP API benchmark: reads the request body and answers 202
// with a small JSON body, doing nothing else. Usage: node http-baseline.mjs PORT
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 8181);
let n = 0;
createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({ id: String(++n), rejected: [], size: Buffer.concat(chunks).length });
    res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(port, '127.0.0.1');
